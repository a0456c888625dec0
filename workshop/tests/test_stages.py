from workshop import stages


def test_every_stage_folder_has_a_manifest_that_loads():
    assert "00-monolith" in stages.names()
    for name in stages.names():
        stage = stages.load(name)
        assert stage.processes, f"{name} runs no process"
        assert stage.front_door in {p.name for p in stage.processes}
        for label, target in stage.urls.items():
            process, _, path = target.partition(":")
            assert process in {p.name for p in stage.processes}, label
            assert path.startswith("/"), label


def test_a_stage_can_be_named_by_its_number_and_latest_is_the_default():
    assert stages.load("00").name == "00-monolith"
    assert stages.load(None).name == stages.names()[-1]


def test_stages_lists_one_line_per_stage(run_workshop):
    result = run_workshop("stages")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == stages.names()


def test_an_unknown_stage_is_a_clear_error(run_workshop):
    result = run_workshop("up", "99-nope", env={"WORKSHOP_NO_VENV": "1"})
    assert result.returncode != 0
    assert "unknown stage '99-nope'" in result.stderr
