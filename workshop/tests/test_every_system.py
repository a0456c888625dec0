"""`up` and the instructor's commands as an attendee runs them on Linux, macOS or Windows.

No POSIX signal here: the stage is controlled and stopped from "another terminal" (`workshop
ps|kill|freeze|thaw|down`), which is what the GitHub workflow also runs on macOS and Windows.
The stages are started once per session (`stage_up`); the latest is stopped with `down`, and
must leave no process behind.
"""

import json

import httpx
import pytest

from workshop import stages, supervisor

LATEST = stages.names()[-1]


def rows(handle):
    out = handle.workshop("ps", LATEST)
    assert out.returncode == 0, out.stderr
    return {line.split()[0]: line.split() for line in out.stdout.splitlines()[2:]}


@pytest.mark.parametrize("name", stages.names())
def test_up_serves_every_url_it_prints(stage_up, name):
    handle = stage_up(name)
    urls = handle.urls
    assert {"storefront", "API docs", "admin"} <= set(urls), handle.output
    assert "admin / workshop-admin" in handle.output
    for label, url in urls.items():
        resp = httpx.get(url, follow_redirects=True, timeout=30)
        assert resp.status_code == 200, (label, url, resp.status_code)
    assert "swagger" in httpx.get(urls["API docs"], timeout=30).text.lower()
    state = handle.tmp / "run" / name / "workshop-up.json"
    assert json.loads(state.read_text())["pid"] == handle.proc.pid


def test_the_instructor_breaks_and_mends_the_latest_stage_without_pids(stage_up):
    handle = stage_up(LATEST)
    assert supervisor.wait_for(
        lambda: all(r[3:5] == ["running", "ok"] for r in rows(handle).values()), 120)
    before = rows(handle)["orders"]

    assert handle.workshop("kill", "orders").returncode == 0
    assert supervisor.wait_for(lambda: rows(handle)["orders"][6] == str(int(before[6]) + 1)
                               and rows(handle)["orders"][3:5] == ["running", "ok"], 120)
    after = rows(handle)["orders"]
    assert after[2] == before[2] and after[1] != before[1], "a new process, on the same port"

    frozen = handle.workshop("freeze", "orders-grpc")
    assert frozen.returncode == 0, frozen.stderr
    assert rows(handle)["orders-grpc"][3] == "frozen"
    assert handle.workshop("thaw", "orders-grpc").returncode == 0
    assert supervisor.wait_for(lambda: rows(handle)["orders-grpc"][3:5] == ["running", "ok"], 60)
    storefront = httpx.get(handle.urls["storefront"], timeout=30)
    assert storefront.status_code == 200
