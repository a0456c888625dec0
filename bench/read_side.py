"""Stage 03's read side, measured in one process (no relay, no broker: the consumer's handler is
called directly, so these are the read model's own costs; the full pipe is bench/events.py).

- lag under load: a writer commits `order.changed` events to a throwaway orders database (one
  transaction each, as the saga does) as fast as it can, while a projector applies them through
  `order_history.project` (inbox + upsert in the read model's own SQLite file) and a sampler asks
  `order_history.lag()` every 50 ms: events behind and seconds behind, p50 and max;
- rebuild: `order_history.rebuild()` of every event (10,000 by default) into the same rows as
  the live projection (checked row by row);
- the event-sourced payment ledger: loading a 1,000-event ledger by replaying every event vs
  through its latest snapshot.

    python bench/read_side.py            # 10,000 events
    python bench/read_side.py --quick    # 1,000 events: a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "03-events" / "services" / "orders"


def setup(tmp: Path) -> None:
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "orders_service.settings",
        "DJANGO_SECRET_KEY": "bench-only",
        "DATABASE_URL": f"sqlite:///{tmp / 'orders.sqlite3'}",
        "ORDER_HISTORY_DB": str(tmp / "order_history.sqlite3"),
        "PAYMENT_LEDGER_DB": str(tmp / "ledger.sqlite3"),
        "REDIS_URL": "redis://127.0.0.1:1/0",  # the outbox's doorbell rings nobody: fine
    })
    sys.path.insert(0, str(SERVICE))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def payload(order_id: int, status: str) -> dict:
    return {"order_id": order_id, "customer_id": 1 + order_id % 50, "status": status,
            "reason": "", "total_cents": 900, "created_at": "2026-11-27T10:00:00+00:00",
            "lines": [{"product_id": 1, "product_name": "Espresso cup", "quantity": 1,
                       "unit_price_cents": 900}]}


def measure(events: int) -> dict:
    import logging

    from django.db import connection, transaction
    from orders.events import outbox
    from orders.projections import order_history

    from orders.models import OutboxMessage

    logging.getLogger("orders.events.outbox").setLevel(logging.ERROR)
    outbox.ring = lambda: None  # no relay to wake here
    done = threading.Event()
    samples: list[tuple[int, float]] = []

    def write():
        for n in range(events):
            order_id = 1 + n // 2  # two events an order: pending, then confirmed
            with transaction.atomic():
                outbox.emit("order.changed", 1, order_id,
                            payload(order_id, "pending" if n % 2 == 0 else "confirmed"))
        connection.close()

    def project():
        last = 0
        while True:
            finished = done.is_set()
            rows = list(OutboxMessage.objects.filter(type="order.changed", position__gt=last)
                        .order_by("position").values_list("position", "envelope")[:200])
            for position, envelope in rows:
                order_history.project(envelope, position)
                last = position
            if not rows and finished:
                break
        connection.close()

    def sample():
        while not done.is_set():
            behind = order_history.lag()
            samples.append((behind.events, behind.seconds))
            time.sleep(0.05)
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=f) for f in (write, project, sample)]
    for t in threads:
        t.start()
    threads[0].join()
    written = time.perf_counter() - started
    done.set()
    for t in threads[1:]:
        t.join()
    applied = time.perf_counter() - started
    assert order_history.lag().events == 0
    live = order_history.rows()

    t0 = time.perf_counter()
    replayed = order_history.rebuild()
    rebuild_s = time.perf_counter() - t0
    assert order_history.rows() == live, "the rebuild differs from the live read model"

    from payments.ledger import ledgers

    app = ledgers()
    for n in range(1, 1000):
        app.charge(1, f"order-{n}", n)
    t0 = time.perf_counter()
    app.replayed(1)
    replay_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    app.state_at(1)
    snapshot_s = time.perf_counter() - t0

    behind = [e for e, _ in samples] or [0]
    seconds = [s for _, s in samples] or [0.0]
    return {
        "events": events, "orders": len(live), "write_s": round(written, 2),
        "events_per_s_written": round(events / written),
        "all_applied_s": round(applied, 2),
        "lag_events_p50": statistics.median(behind), "lag_events_max": max(behind),
        "lag_seconds_p50": round(statistics.median(seconds), 3),
        "lag_seconds_max": round(max(seconds), 3), "lag_samples": len(samples),
        "rebuild_events": replayed, "rebuild_s": round(rebuild_s, 2),
        "rebuild_events_per_s": round(replayed / rebuild_s),
        "ledger_1000_events_replay_ms": round(replay_s * 1000, 1),
        "ledger_1000_events_via_snapshot_ms": round(snapshot_s * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 events")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup(Path(tmp))
        result = measure(1000 if args.quick else args.events)
    for key, value in result.items():
        print(f"{key:36} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
