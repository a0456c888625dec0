"""`workshop up` as an attendee's terminal drives it: Ctrl-C at any moment, a closed terminal, a
second terminal's commands, and never a process left behind.

Each test runs the real command in a child process with its own session (Ctrl-C is a SIGINT to
that process group) and marks every process it starts, so "nothing left" is checked for the
whole tree, setup steps and grandchildren included. Most use a tiny stand-in stage (two stdlib
HTTP servers) so they are fast; the real stages are started once per session (`stage_up`).
"""

import os
import re
import signal
import sys
import time

import httpx
import pytest

from workshop import supervisor

pytestmark = pytest.mark.skipif(
    os.name == "nt",
    reason="POSIX signals; Windows CI runs `up` through the acceptance harness and the "
    "instructor's commands, which use the same supervisor",
)

BLOCKING_SETUP = {"""setup = [["{python}", "-c", "print('back: set up')"]]""":
                  """setup = [["{python}", "setup_step.py"]]"""}


def assert_clean_exit(handle, code=0):
    got = handle.finish(60)
    assert got == code, handle.output
    assert "every process stopped" in handle.output, handle.output
    assert "Traceback" not in handle.output, handle.output
    assert not handle.left_behind(), f"left behind: {handle.left_behind()}"


def test_ctrl_c_during_start_up_also_stops_cleanly(up):
    """An attendee who presses Ctrl-C the moment `up` starts (it used to print a traceback)."""
    handle = up("00")
    handle.wait_for("starting 00-monolith")
    handle.signal(signal.SIGINT)
    assert_clean_exit(handle)


def test_ctrl_c_during_a_setup_step_stops_the_step_too(up, fake_stage):
    path = fake_stage(BLOCKING_SETUP)
    handle = up(str(path))
    handle.wait_for(r"^\s+back \| setup: waiting for go$")
    handle.signal(signal.SIGINT)
    assert_clean_exit(handle)
    assert "setup: done" not in handle.output


def test_setup_output_is_streamed_live_with_the_process_name(up, fake_stage):
    path = fake_stage(BLOCKING_SETUP)
    handle = up(str(path))
    # Seen while the step still runs: it cannot finish before the test creates `go`.
    handle.wait_for(r"^\s+back \| setup: waiting for go$", timeout=60)
    (path / "go").touch()
    handle.wait_for(r"^\s+back \| setup: done$")
    handle.ready()
    handle.signal(signal.SIGINT)
    assert_clean_exit(handle)


def test_ctrl_c_while_waiting_for_health_stops_at_once(up, fake_stage):
    path = fake_stage({'"back"]\nport = 18081\nhealth = "/healthz"':
                       '"back"]\nport = 18081\nhealth = "/never-healthy"'})
    handle = up(str(path))
    handle.wait_for(r"back listening on")
    handle.signal(signal.SIGINT)
    assert_clean_exit(handle)


def test_ctrl_c_while_stopping_after_a_start_up_failure_leaves_nothing(up, fake_stage):
    """back dies at start; while front takes its time to stop, Ctrl-C is pressed again and again."""
    path = fake_stage()
    with (path / "stage.toml").open("a") as f:
        f.write('\n[processes.front.env]\nFAKE_SLOW_STOP = "1.5"\n'
                '[processes.back.env]\nFAKE_EXIT = "3"\n')
    handle = up(str(path))
    assert supervisor.wait_for((path / "front.term").exists, 60), handle.output
    while handle.proc.poll() is None:
        os.kill(handle.proc.pid, signal.SIGINT)
        time.sleep(0.05)
    assert_clean_exit(handle, code=1)
    assert "back exited with code 3 before it was healthy" in handle.output
    assert (path / "front.exit").exists(), "front was let finish its own clean stop"


def test_a_failed_setup_step_prints_the_command_as_it_ran(up, fake_stage):
    path = fake_stage({"""setup = [["{python}", "-c", "print('back: set up')"]]""":
                       """setup = [["{python}", "-c", "import sys; sys.exit(4)"]]"""})
    handle = up(str(path))
    assert_clean_exit(handle, code=1)
    assert f"setup step failed with exit code 4: {sys.executable} -c" in handle.output
    assert "{python}" not in handle.output


def test_closing_the_terminal_sighup_stops_every_process(up, fake_stage):
    handle = up(str(fake_stage()))
    handle.ready()
    handle.signal(signal.SIGHUP)
    assert_clean_exit(handle)


def test_another_terminal_controls_the_stage_by_process_name(up, fake_stage):
    path = fake_stage()
    handle = up(str(path))
    urls = handle.ready()
    assert "From another terminal: python3 -m workshop ps" in handle.output
    port = int(urls["front"].split(":")[2].split("/")[0])

    ps = handle.workshop("ps")
    assert ps.returncode == 0, ps.stderr
    rows = {line.split()[0]: line.split() for line in ps.stdout.splitlines()[2:]}
    assert rows["front"][2:5] == [str(port), "running", "ok"], ps.stdout

    killed = handle.workshop("kill", "back")
    assert killed.returncode == 0 and "killed back (pid" in killed.stdout, killed.stderr
    handle.wait_for(r"back was killed \(SIGKILL\)")
    handle.wait_for(r"back is healthy again")

    assert handle.workshop("freeze", "front").returncode == 0
    assert re.search(r"front\s+\d+\s+\d+\s+frozen", handle.workshop("ps").stdout)
    with pytest.raises(httpx.TimeoutException):
        httpx.get(urls["front"], timeout=1)
    restarted = handle.workshop("restart", "front")
    assert restarted.returncode == 0 and f"port {port}" in restarted.stdout, restarted.stderr
    assert httpx.get(urls["front"], timeout=5).status_code == 200

    wrong = handle.workshop("thaw", "front")
    assert wrong.returncode == 1 and "front is running, not frozen" in wrong.stderr
    unknown = handle.workshop("kill", "nope")
    assert unknown.returncode == 1 and "its processes: front, back" in unknown.stderr

    down = handle.workshop("down")
    assert down.returncode == 0 and "fake stopped" in down.stdout, down.stderr
    assert_clean_exit(handle)
    assert not list((handle.tmp / "run").rglob("*.json")), "the state file is gone"
    nothing = handle.workshop("ps")
    assert nothing.returncode == 1 and "no stage is running" in nothing.stderr


def test_a_second_up_of_a_running_stage_is_refused_and_names_down(up, fake_stage):
    path = fake_stage()
    first = up(str(path))
    first.ready()
    second = first.workshop("up", str(path), "--free-ports")
    assert second.returncode == 1
    assert "fake is already running" in second.stderr and "workshop down fake" in second.stderr
    first.signal(signal.SIGINT)
    assert_clean_exit(first)


def test_down_stops_what_an_up_that_was_itself_killed_left_behind(up, fake_stage):
    path = fake_stage()
    handle = up(str(path))
    handle.ready()
    os.kill(handle.proc.pid, signal.SIGKILL)  # not the group: its children keep running
    handle.proc.wait()
    assert len(handle.left_behind()) == 2
    refused = handle.workshop("up", str(path), "--free-ports")
    assert refused.returncode == 1 and "still running" in refused.stderr
    down = handle.workshop("down", str(path))
    assert down.returncode == 0, down.stderr
    assert "stopped 2 process(es) left by an `up` of fake" in down.stdout
    assert supervisor.wait_for(lambda: not handle.left_behind(), 10)


def test_down_stops_a_start_up_still_in_progress(up, fake_stage):
    path = fake_stage(BLOCKING_SETUP)
    handle = up(str(path))
    handle.wait_for(r"back \| setup: waiting for go")
    ps = handle.workshop("ps")
    assert ps.returncode == 0 and "fake (starting)" in ps.stdout, ps.stdout + ps.stderr
    down = handle.workshop("down")
    assert down.returncode == 0, down.stderr
    assert_clean_exit(handle)
