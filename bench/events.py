"""Stage 03's place-order saga beside stage 02's synchronous place-order, in one run.

Each stage is started by the repo's own supervisor (as `python3 -m workshop up` does), on free
ports, with throwaway SQLite databases; stage 03 runs its embedded Redis. Measured through the
front door (the facade), as a customer sees it:

- accept latency: POST /api/v1/orders/ until its answer (02: 201 with the final status; 03: 202
  pending), p50 and p99, one customer at a time (light load);
- time to final: POST until a GET shows confirmed (02: the POST itself), p50 and p99;
- orders/s: CONCURRENCY customers ordering for a while, orders accepted per second, and for
  stage 03 the time until the last of them was final;
- events/s: EVENTS messages written to stage 03's outbox in one transaction, relayed to Redis
  and consumed (inbox row written) by the worker: relay -> broker -> consumer throughput;
- Celery's own ceiling on the same machine in the same run: EVENTS no-op tasks sent, then run
  by one solo worker with the orders worker's at-least-once settings (acks late, prefetch 1).

Goals (issue 11): >= 1,000 events/s through relay and consumer; saga time-to-final p50 <= 100 ms
at light load. The figures and whether each goal holds are printed (never asserted: tox's bench
env runs --quick so that the script cannot rot).

    python bench/events.py              # 200 orders sequentially, 10 s of load, 5,000 events
    python bench/events.py --quick      # 10 orders, 1 s of load, 300 events: a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workshop import stages, supervisor  # noqa: E402

GOALS = {"events_per_s": 1000.0, "saga_p50_ms": 100.0}
FINAL = {"confirmed", "rejected", "cancelled"}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


@contextlib.contextmanager
def stage_running(name: str, tmp: Path, extra: dict | None = None):
    stage = stages.load(name)
    env = {"DATABASE_URL": f"sqlite:///{tmp / f'{name}-db.sqlite3'}",
           "ORDERS_DATABASE_URL": f"sqlite:///{tmp / f'{name}-orders.sqlite3'}",
           "EMAIL_FILE_PATH": str(tmp / f"{name}-mail"), "REDIS_URL": "",
           "CUSTOMER_CACHE_SECONDS": "300", **(extra or {})}
    with (tmp / f"{name}.log").open("w") as log, supervisor.running(
            stage, free_ports=True, env=env, log=log) as run:
        run.orders_db = tmp / f"{name}-orders.sqlite3"
        yield run


def client_for(run) -> httpx.Client:
    token = httpx.post(f"{run.front_door_url}/api/v1/auth/token/", timeout=60,
                       json={"username": "alice", "password": "wonderland"}).json()["token"]
    return httpx.Client(base_url=run.front_door_url, timeout=60,
                        headers={"Authorization": f"Token {token}"})


def restock(run, product: int = 1, quantity: int = 100_000) -> None:
    staff = httpx.post(f"{run.front_door_url}/api/v1/auth/token/", timeout=60,
                       json={"username": "admin", "password": "workshop-admin"}).json()["token"]
    resp = httpx.put(f"{run.front_door_url}/api/v1/stock/{product}/", json={"quantity": quantity},
                     headers={"Authorization": f"Token {staff}"}, timeout=60)
    resp.raise_for_status()


ORDER = {"lines": [{"product_id": 1, "quantity": 1}], "card_number": "4242424242424242"}


def one_order(client: httpx.Client) -> tuple[float, float, str]:
    """(accept ms, final ms, final status) of one order, polling every 2 ms until final."""
    start = time.perf_counter()
    resp = client.post("/api/v1/orders/", json=ORDER)
    accepted = time.perf_counter()
    body = resp.json()
    assert resp.status_code in (201, 202), resp.text
    while body["status"] not in FINAL:
        time.sleep(0.002)
        body = client.get(f"/api/v1/orders/{body['id']}/").json()
    done = time.perf_counter()
    return (accepted - start) * 1000, (done - start) * 1000, body["status"]


def light_load(run, n: int) -> dict:
    with client_for(run) as client:
        for _ in range(3):
            one_order(client)  # warm: connections, caches
        rows = [one_order(client) for _ in range(n)]
    accept, final = [r[0] for r in rows], [r[1] for r in rows]
    return {"orders": n, "accept_p50_ms": pct(accept, 50), "accept_p99_ms": pct(accept, 99),
            "final_p50_ms": pct(final, 50), "final_p99_ms": pct(final, 99),
            "confirmed": sum(r[2] == "confirmed" for r in rows)}


def load(run, seconds: float, concurrency: int, pending_count=None) -> dict:
    ids: list[int] = []
    refused: dict[int, int] = {}
    stop = threading.Event()
    clients = [client_for(run) for _ in range(concurrency)]  # logged in before the clock starts

    def customer(client):
        with client:
            while not stop.is_set():
                resp = client.post("/api/v1/orders/", json=ORDER)
                if resp.status_code in (201, 202):
                    ids.append(resp.json()["id"])
                else:
                    refused[resp.status_code] = refused.get(resp.status_code, 0) + 1

    threads = [threading.Thread(target=customer, args=(c,)) for c in clients]
    start = time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()
    took = time.perf_counter() - start
    out = {"concurrency": concurrency, "orders": len(ids), "accepted_per_s": len(ids) / took,
           "refused": refused}
    if pending_count is not None:
        while pending_count():
            time.sleep(0.02)
        out["all_final_after_s"] = time.perf_counter() - start
        out["final_per_s"] = len(ids) / out["all_final_after_s"]
    return out


def sql(db: Path, query: str, *args):
    with contextlib.closing(sqlite3.connect(db, timeout=60)) as conn:
        return conn.execute(query, args).fetchone()[0]


INSERT_EVENTS = """
import time
from django.db import transaction
from orders.events import outbox
n = int({n})
with transaction.atomic():
    for i in range(n):
        outbox.emit("order.rejected", 1, 10_000_000 + i,
                    {{"order_id": 10_000_000 + i, "customer_id": 1, "reason": "bench"}})
print(time.time())  # the commit (and the doorbell): the relay may start before this shell exits
"""
# The bench's events only (aggregate ids 10,000,000 on): when the relay marked the last sent
# and when the worker recorded the last in its inbox, as the database wrote them (UTC).
LAST_SENT = ("SELECT MAX(sent_at) FROM orders_outboxmessage WHERE type = 'order.rejected' "
             "AND length(aggregate_id) = 8 AND aggregate_id LIKE '100%'")
LAST_CONSUMED = ("SELECT MAX(i.processed_at) FROM orders_inboxmessage i JOIN orders_outboxmessage"
                 " o ON o.message_id = i.message_id WHERE o.type = 'order.rejected' AND "
                 "length(o.aggregate_id) = 8 AND o.aggregate_id LIKE '100%'")


def _epoch(stamp: str) -> float:
    from datetime import datetime, timezone

    return datetime.fromisoformat(stamp).replace(tzinfo=timezone.utc).timestamp()


def events(run, n: int) -> dict:
    """n events through outbox -> relay -> Redis -> worker (inbox), timed from the commit to the
    database's own timestamps of the last one sent and the last one consumed. (The shell that
    commits takes a second or two to exit: a clock started then would miss most of the work.)"""
    db = run.orders_db
    before = sql(db, "SELECT count(*) FROM orders_inboxmessage")
    env = {**run.env, "DATABASE_URL": f"sqlite:///{db}",
           "BROKER_URL": f"redis://127.0.0.1:{run.ports['broker']}/0"}
    script = INSERT_EVENTS.format(n=n)
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], env=env,
                         check=True, capture_output=True, text=True,
                         cwd=run.stage.path / "services" / "orders")
    committed = float(out.stdout.split()[-1])
    while (done := sql(db, "SELECT count(*) FROM orders_inboxmessage") - before) < n:
        time.sleep(0.01)
    relayed, consumed = _epoch(sql(db, LAST_SENT)), _epoch(sql(db, LAST_CONSUMED))
    return {"events": n, "relayed_per_s": n / (relayed - committed),
            "end_to_end_per_s": n / (consumed - committed), "consumed": done}


NOOP_APP = """
import os
from celery import Celery
app = Celery("ceiling", broker=os.environ["CEILING_BROKER"])
# The orders worker's at-least-once settings (03-events/.../orders_service/celery.py).
app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True,
                worker_prefetch_multiplier=1, broker_transport_options={"visibility_timeout": 60},
                task_default_queue="ceiling", task_serializer="json", accept_content=["json"],
                task_ignore_result=True, worker_hijack_root_logger=False,
                worker_send_task_events=False)

@app.task(name="noop")
def noop(message=None):
    return None
"""


def celery_ceiling(run, n: int, tmp: Path) -> dict:
    """What Celery itself does here, for a task that does nothing, with the worker's settings:
    n messages published, then consumed by one solo worker (on the stage's Redis, database 1)."""
    (tmp / "ceiling_app.py").write_text(NOOP_APP)
    env = {**os.environ, "CEILING_BROKER": f"redis://127.0.0.1:{run.ports['broker']}/1",
           "PYTHONPATH": str(tmp)}
    publish = ("import time, ceiling_app as c\n"
               "t = time.perf_counter()\n"
               "with c.app.producer_or_acquire() as p:\n"
               f"    for i in range({n}):\n"
               "        c.app.send_task('noop', args=[{'id': i}], queue='ceiling', producer=p)\n"
               "print(time.perf_counter() - t)\n")
    took = float(subprocess.run([sys.executable, "-c", publish], env=env, check=True,
                                capture_output=True, text=True, cwd=tmp).stdout)
    import redis

    broker = redis.Redis(port=run.ports["broker"], db=1)
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "ceiling_app", "worker",
                               "--pool=solo", "--loglevel=WARNING", "--queues=ceiling",
                               "--without-gossip", "--without-mingle", "--without-heartbeat"],
                              env=env, cwd=tmp, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        while broker.llen("ceiling") == n:
            time.sleep(0.002)
        start = time.perf_counter()
        while broker.llen("ceiling") or broker.hlen("unacked"):
            time.sleep(0.002)
        consumed = time.perf_counter() - start
    finally:
        worker.terminate()
        worker.wait(30)
        broker.flushdb()
    return {"messages": n, "published_per_s": n / took, "consumed_per_s": n / consumed}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--quick", action="store_true", help="a smoke run: a few seconds")
    ap.add_argument("--json", type=Path, help="where to write the results")
    args = ap.parse_args(argv)
    if args.quick:
        args.orders, args.seconds, args.concurrency, args.events = 10, 1.0, 4, 300
    results: dict = {"machine": {"cpus": os.cpu_count(), "load": os.getloadavg()[0]}}
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        tmp = Path(tmp)
        print("stage 02 (synchronous place-order) ...", flush=True)
        with stage_running("02-extract-orders", tmp) as run:
            restock(run)
            results["02"] = {"light": light_load(run, args.orders),
                             "load": load(run, args.seconds, args.concurrency)}
        print("stage 03 (the saga over messages) ...", flush=True)
        with stage_running("03-events", tmp) as run:
            restock(run)
            pending = lambda: sql(run.orders_db,  # noqa: E731
                                  "SELECT count(*) FROM orders_order WHERE status = 'pending'")
            results["03"] = {"light": light_load(run, args.orders),
                             "load": load(run, args.seconds, args.concurrency, pending),
                             "events": events(run, args.events),
                             "celery_noop": celery_ceiling(run, args.events, tmp)}
    s02, s03 = results["02"], results["03"]
    print(f"\n{'':34}{'stage 02':>12}{'stage 03':>12}")
    for label, key in [("accept p50 (ms)", "accept_p50_ms"), ("accept p99 (ms)", "accept_p99_ms"),
                       ("time to final p50 (ms)", "final_p50_ms"),
                       ("time to final p99 (ms)", "final_p99_ms")]:
        print(f"{label:34}{s02['light'][key]:12.1f}{s03['light'][key]:12.1f}")
    print(f"{'orders/s accepted (c=' + str(args.concurrency) + ')':34}"
          f"{s02['load']['accepted_per_s']:12.1f}{s03['load']['accepted_per_s']:12.1f}")
    print(f"{'orders/s final (c=' + str(args.concurrency) + ')':34}"
          f"{s02['load']['accepted_per_s']:12.1f}{s03['load']['final_per_s']:12.1f}")
    ev = s03["events"]
    print(f"{'events/s relay -> Redis':34}{'':12}{ev['relayed_per_s']:12.0f}")
    print(f"{'events/s relay -> Redis -> consumer':34}{'':12}{ev['end_to_end_per_s']:12.0f}")
    noop = s03["celery_noop"]
    print(f"{'Celery alone, a no-op task: sent/s':34}{'':12}{noop['published_per_s']:12.0f}")
    print(f"{'Celery alone, a no-op task: run/s':34}{'':12}{noop['consumed_per_s']:12.0f}")
    holds = {"events_per_s": ev["end_to_end_per_s"] >= GOALS["events_per_s"],
             "saga_p50_ms": s03["light"]["final_p50_ms"] <= GOALS["saga_p50_ms"]}
    print(f"\ngoal: >= {GOALS['events_per_s']:.0f} events/s through relay and consumer: "
          f"{ev['end_to_end_per_s']:.0f} -> {'holds' if holds['events_per_s'] else 'MISSED'}")
    print(f"goal: saga time-to-final p50 <= {GOALS['saga_p50_ms']:.0f} ms at light load: "
          f"{s03['light']['final_p50_ms']:.1f} ms -> "
          f"{'holds' if holds['saga_p50_ms'] else 'MISSED'}")
    print(f"(machine: {os.cpu_count()} cpus, load {results['machine']['load']:.1f})")
    results["goals"] = {"targets": GOALS, "hold": holds}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
