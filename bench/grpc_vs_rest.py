"""The inventory's reserve call over gRPC vs the same call as DRF JSON over HTTP, in one run.

Both doors are stage 02's monolith, on one database: `Inventory/Reserve` on its gRPC server and
`POST /api/v1/reservations/` on waitress, same service function behind both (that JSON door is
not on the public API: waitress runs with the benchmark's settings, shop/settings_bench.py).
Each measured call reserves one unit under a new id (a real write); its release follows,
unmeasured. Rows are interleaved per round so the machine's noise hits both alike; the goals
are checked in the same run.

To tell the transport from the work, the same run also times a call that does no work at all:
the gRPC health check against GET /healthz (a JSON view that touches no database).

    python bench/grpc_vs_rest.py            # 3 rounds x 5 s per transport and concurrency
    python bench/grpc_vs_rest.py --quick    # 1 round x 1 s: a smoke run (tox runs it)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
MONOLITH = ROOT / "02-extract-orders" / "monolith"
sys.path.insert(0, str(MONOLITH))  # the monolith's generated stubs (shopapi/)

from shopapi.inventory.v1 import inventory_pb2, inventory_pb2_grpc  # noqa: E402

# From the workshop's issue tracker (issue 10): the gRPC reserve at most 1.5 ms p50, and at least
# 2.5x faster than the same call as DRF JSON, both measured in the same run.
GOALS = {"grpc_p50_ms": 1.5, "speedup_p50": 2.5}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet, whatever the reason
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} did not come up in {timeout:.0f} s")


class Grpc:
    name = "gRPC"

    def __init__(self, port: int):
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = inventory_pb2_grpc.InventoryStub(channel)
        self.health = health_pb2_grpc.HealthStub(channel)

    def noop(self) -> None:
        self.health.Check(health_pb2.HealthCheckRequest(), timeout=30)

    def reserve(self, rid: str) -> None:
        self.stub.Reserve(inventory_pb2.ReserveRequest(
            reservation_id=rid, lines=[inventory_pb2.Line(product_id=1, quantity=1)]), timeout=30)

    def release(self, rid: str) -> None:
        self.stub.Release(inventory_pb2.ReleaseRequest(reservation_id=rid), timeout=30)


class Rest:
    name = "REST (DRF JSON)"

    def __init__(self, port: int, token: str):
        self.base = f"http://127.0.0.1:{port}/api/v1/reservations/"
        self.local = threading.local()  # one keep-alive client per thread
        self.headers = {"Authorization": f"Token {token}"}

    @property
    def client(self) -> httpx.Client:
        if not hasattr(self.local, "client"):
            self.local.client = httpx.Client(headers=self.headers, timeout=30)
        return self.local.client

    def noop(self) -> None:
        self.client.get(self.base.replace("/api/v1/reservations/", "/healthz")).raise_for_status()

    def reserve(self, rid: str) -> None:
        resp = self.client.post(self.base, json={"reservation_id": rid,
                                                 "lines": [{"product_id": 1, "quantity": 1}]})
        assert resp.status_code == 201, resp.text

    def release(self, rid: str) -> None:
        self.client.post(f"{self.base}{rid}/release/").raise_for_status()


def run_noop(door, seconds: float) -> dict:
    latencies = []
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        door.noop()
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    return {"p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            "reserves_per_s": len(latencies) / seconds}


def run(door, concurrency: int, seconds: float) -> dict:
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker():
        mine = []
        while time.monotonic() < stop_at:
            rid = uuid.uuid4().hex
            started = time.perf_counter()
            door.reserve(rid)
            mine.append(time.perf_counter() - started)
            door.release(rid)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return {"calls": len(latencies),
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            # reserves per second (each worker also releases, so this is half its call rate)
            "reserves_per_s": len(latencies) / seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    # At 10 the callers mostly queue on SQLite's single write lock: that row measures the
    # database more than the wire.
    ap.add_argument("--concurrency", default="1,10")
    ap.add_argument("--quick", action="store_true", help="1 round of 1 s: a smoke run")
    ap.add_argument("--json", type=Path, help="where to write the results")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds = 1.0, 1
    levels = [int(c) for c in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
               "DJANGO_SECRET_KEY": "bench-only", "ORDERS_URL": "http://127.0.0.1:9"}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        for step in (["migrate", "-v", "0"], ["seed"]):
            subprocess.run([sys.executable, "manage.py", *step], cwd=MONOLITH, env=env,
                           check=True, capture_output=True)
        grpc_port, http_port = free_port(), free_port()
        log = open(Path(tmp) / "servers.log", "wb")  # noqa: SIM115 - closed below
        procs = [
            subprocess.Popen([sys.executable, "manage.py", "serve_grpc", "--port",
                              str(grpc_port)], cwd=MONOLITH, env=env, stdout=log,
                             stderr=subprocess.STDOUT),
            subprocess.Popen([sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{http_port}",
                              "--threads=8", "shop.wsgi:application"], cwd=MONOLITH,
                             env={**env, "DJANGO_SETTINGS_MODULE": "shop.settings_bench"},
                             stdout=log, stderr=subprocess.STDOUT),
        ]
        try:
            base = f"http://127.0.0.1:{http_port}"
            wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, "waitress")
            token = httpx.post(f"{base}/api/v1/auth/token/",
                               json={"username": "admin", "password": "workshop-admin"},
                               timeout=60).json()["token"]
            doors = [Grpc(grpc_port), Rest(http_port, token)]
            wait_until(lambda: doors[0].noop() is None, "gRPC server")  # its health check
            for door in doors:  # warm both: connections, Django's first-request costs
                run(door, 1, 0.3)
            results: dict[str, dict[int, list[dict]]] = {d.name: {c: [] for c in levels}
                                                          for d in doors}
            noops: dict[str, list[dict]] = {d.name: [] for d in doors}
            for _ in range(args.rounds):
                for door in doors:
                    noops[door.name].append(run_noop(door, args.seconds))
                for concurrency in levels:
                    for door in doors:
                        results[door.name][concurrency].append(
                            run(door, concurrency, args.seconds))
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)
            log.close()

    def med(rows, key):
        return statistics.median(r[key] for r in rows)

    print(f"\nreserve one unit, {args.rounds} round(s) x {args.seconds:g} s "
          f"(client and servers share this machine's {os.cpu_count()} cores)")
    print(f"{'transport':<16} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'reserves/s':>11}")
    summary = {}
    for concurrency in levels:
        for name in results:
            rows = results[name][concurrency]
            p50, p99, rps = med(rows, "p50_ms"), med(rows, "p99_ms"), med(rows, "reserves_per_s")
            summary[f"{name} c{concurrency}"] = {"p50_ms": p50, "p99_ms": p99, "rps": rps}
            print(f"{name:<16} {concurrency:>4} {p50:>8.3f} {p99:>8.3f} {rps:>11.0f}")
    print("\nno work at all (gRPC health check vs GET /healthz), concurrency 1:")
    for name, rows in noops.items():
        p50, p99, rps = med(rows, "p50_ms"), med(rows, "p99_ms"), med(rows, "reserves_per_s")
        summary[f"{name} noop"] = {"p50_ms": p50, "p99_ms": p99, "rps": rps}
        print(f"{name:<16} {1:>4} {p50:>8.3f} {p99:>8.3f} {rps:>11.0f} calls/s")
    c1 = min(levels)
    g, r = summary[f"gRPC c{c1}"], summary[f"REST (DRF JSON) c{c1}"]
    speedup = r["p50_ms"] / g["p50_ms"]
    print(f"\ngRPC p50 at concurrency {c1}: {g['p50_ms']:.3f} ms; REST/gRPC p50 ratio "
          f"{speedup:.2f}x")
    for label, ok, value in [
        (f"gRPC p50 <= {GOALS['grpc_p50_ms']} ms", g["p50_ms"] <= GOALS["grpc_p50_ms"],
         f"{g['p50_ms']:.3f}"),
        (f"gRPC >= {GOALS['speedup_p50']:g}x faster than JSON (p50)",
         speedup >= GOALS["speedup_p50"], f"{speedup:.2f}x"),
    ]:
        print(f"  {'PASS' if ok else 'MISS'}  {label}: {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "when": datetime.now(timezone.utc).isoformat(), "rounds": args.rounds,
            "seconds": args.seconds, "results": summary, "speedup_p50": speedup,
        }, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
