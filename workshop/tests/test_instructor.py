"""The instructor breaks a service on stage, with the commands attendees see in the READMEs.

Stage 01 runs with orders fully on the new service (weight 100), stage 02 as it ships; customers
keep ordering through the front door while `python3 -m workshop kill orders` runs in another
terminal. The front door must answer 502/503 at once (not hang), the catalog must keep answering,
the orders service must come back by itself (restart = "on-failure"), and `up` never stops.
The figures are printed (run with -s to see them); only the promises are asserted.
"""

import os
import statistics
import threading
import time

import httpx
import pytest

from workshop import supervisor

pytestmark = pytest.mark.skipif(os.name == "nt", reason="shares the POSIX `up` fixture")


def ps_rows(handle, stage):
    out = handle.workshop("ps", stage)
    assert out.returncode == 0, out.stderr
    return {line.split()[0]: line.split() for line in out.stdout.splitlines()[2:]}


def all_healthy(handle, stage):
    return all(row[3:5] == ["running", "ok"] for row in ps_rows(handle, stage).values())


class Traffic:
    """Customers in threads: each request's start time, status (or "cut short") and duration."""

    def __init__(self, base_url, path, headers, threads):
        self.results: list[tuple[float, object, float]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(base_url, path, headers), daemon=True)
            for _ in range(threads)
        ]
        for t in self._threads:
            t.start()

    def _run(self, base_url, path, headers):
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    status = client.get(path).status_code
                except httpx.RemoteProtocolError:
                    # Killed while answering: a proxy can only cut that answer short.
                    status = "cut short"
                except httpx.HTTPError as exc:
                    status = type(exc).__name__  # no answer at all: never acceptable
                with self._lock:
                    self.results.append((started, status, time.monotonic() - started))

    def since(self, t):
        with self._lock:
            return [r for r in self.results if r[0] >= t]

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(35)


@pytest.mark.parametrize("stage", ["01-strangler", "02-extract-orders"])
def test_kill_orders_under_traffic_the_front_door_answers_fast_and_it_comes_back(
    stage_up, stage
):
    handle = stage_up(stage)
    front = handle.urls["storefront"].rstrip("/")
    assert supervisor.wait_for(lambda: all_healthy(handle, stage), 60), ps_rows(handle, stage)
    port_before = ps_rows(handle, stage)["orders"][2]
    restarts_before = int(ps_rows(handle, stage)["orders"][6])
    token = httpx.post(f"{front}/api/v1/auth/token/", timeout=30,
                       json={"username": "alice", "password": "wonderland"}).json()["token"]
    auth = {"Authorization": f"Token {token}"}
    first = httpx.get(f"{front}/api/v1/orders/", headers=auth, timeout=30)
    assert first.headers["X-Served-By"] == "orders"

    orders = Traffic(front, "/api/v1/orders/", auth, threads=3)
    catalog = Traffic(front, "/api/v1/products/", {}, threads=1)
    try:
        assert supervisor.wait_for(
            lambda: sum(r[1] == 200 for r in orders.since(0)) >= 20, 60), "no traffic flows"
        killed_at = time.monotonic()
        kill = handle.workshop("kill", "orders", "--stage", stage)
        kill_returned = time.monotonic()
        assert kill.returncode == 0, kill.stderr
        # The stage's own log says when it died, when `up` started it again, and when it was
        # healthy; the customers' answers are judged against those moments.
        assert supervisor.wait_for(
            lambda: handle.when("orders is healthy again after", after=killed_at), 90), \
            handle.output[-3000:]
        healthy_at = handle.when("orders is healthy again after", after=killed_at)
        # Once healthy, it stays back: the next 30 answers, counted, not timed.
        assert supervisor.wait_for(
            lambda: sum(r[1] == 200 for r in orders.since(healthy_at)) >= 30, 60)
    finally:
        orders.stop()
        catalog.stop()

    died_at = handle.when(r'orders was killed \(SIGKILL\) after [\d.]+ s; restart = "on-failure"',
                          after=killed_at)
    respawned = handle.when(r"orders started again", after=killed_at)
    assert died_at and respawned, handle.output[-3000:]
    # Dead (from the moment the log says so until `up` starts it again): every answer is the
    # front door's own 502/503, at once.
    dead = [r for r in orders.since(died_at) if r[0] < respawned]
    assert dead, "no customer asked while it was dead"
    assert {r[1] for r in dead} <= {502, 503}, {r[1] for r in dead}
    slowest = max(r[2] for r in dead)
    assert slowest < 1.0, f"a {max(dead, key=lambda r: r[2])[1]} took {slowest:.2f} s"
    cut = [r for r in orders.since(killed_at) if r[1] == "cut short"]
    assert len(cut) <= 3, "only requests in flight at the kill may be cut short"
    # Started again, it may still be warming up; once healthy, customers are served again.
    after = orders.since(healthy_at)
    assert after and not [r for r in after if r[1] in (502, 503)], "it stayed back"
    back = min(r[0] for r in orders.since(respawned) if r[1] == 200)
    during = [r for r in catalog.results if r[0] + r[2] >= died_at and r[0] <= healthy_at]
    assert during and {r[1] for r in during} == {200}, "the catalog kept answering"
    assert handle.proc.poll() is None, "the stage never stopped"
    rows = ps_rows(handle, stage)
    assert rows["orders"][2] == port_before, "back on its own port"
    assert int(rows["orders"][6]) == restarts_before + 1

    codes: dict = {}
    for r in dead:
        codes[r[1]] = codes.get(r[1], 0) + 1
    print(
        f"\n{stage}: kill orders under traffic (3 customers on orders, 1 on the catalog): "
        f"`kill` took {kill_returned - killed_at:.2f} s to run; while dead: "
        f"{', '.join(f'{n} x {c}' for c, n in sorted(codes.items()))}"
        f"{f', {len(cut)} cut short' if cut else ''}, answered in median "
        f"{statistics.median(r[2] for r in dead) * 1000:.1f} ms, max {slowest * 1000:.1f} ms; "
        f"`up` started it again {respawned - died_at:.2f} s after its death, first 200 "
        f"{back - died_at:.2f} s after, healthy {healthy_at - died_at:.2f} s after; catalog: "
        f"{len(during)} x 200 meanwhile, no error"
    )


def test_freeze_thaw_and_restart_keep_the_port_on_a_real_stage(stage_up):
    stage = "01-strangler"
    handle = stage_up(stage)
    assert supervisor.wait_for(lambda: all_healthy(handle, stage), 60), ps_rows(handle, stage)
    port = int(ps_rows(handle, stage)["orders"][2])
    direct = f"http://127.0.0.1:{port}/healthz"
    assert handle.workshop("freeze", "orders", "--stage", stage).returncode == 0
    try:
        assert ps_rows(handle, stage)["orders"][3] == "frozen"
        with pytest.raises(httpx.TimeoutException):
            httpx.get(direct, timeout=1)
        assert not supervisor.port_is_free(port), "frozen, it still holds its port"
        assert handle.workshop("thaw", "orders", "--stage", stage).returncode == 0
        assert httpx.get(direct, timeout=10).status_code == 200
        assert handle.workshop("freeze", "orders", "--stage", stage).returncode == 0
    finally:
        restarted = handle.workshop("restart", "orders", "--stage", stage)
    assert restarted.returncode == 0, restarted.stderr
    assert f"port {port}" in restarted.stdout
    assert httpx.get(direct, timeout=10).status_code == 200
    assert ps_rows(handle, stage)["orders"][3:5] == ["running", "ok"]
