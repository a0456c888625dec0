"""The customer's order history as a CQRS read model (T16), in a store of its own (T24).

The write side (orders.models.Order, its saga) stays the truth; every change of an order's
status also writes an `order.changed` event to the outbox, in the same transaction, carrying
the order as it is now (event-carried state). The relay publishes it like any message; the
worker's consumer applies it here:

- The store is a separate SQLite file (ORDER_HISTORY_DB), not the orders database: a read model
  can live anywhere (another engine, another machine) and be thrown away and rebuilt.
- Idempotent: the message id is recorded in this store's own inbox in the same transaction as
  the row it changes (the inbox must live with the effect, so not in the orders database).
- Out of order is fine: a row remembers the outbox position of the event that wrote it, and an
  older event never overwrites a newer one (Celery retries can reorder deliveries).
- `rebuild()` (`manage.py rebuild_projection`) replays every `order.changed` event from the
  outbox, position 1 on, into an empty store, and ends in the same rows.
- `lag()` says how far behind the store is: events written but not applied, and the age of the
  oldest of them. `read_orders()` gives a caller read-your-own-writes by merging, from the write
  side, exactly the orders those unapplied events name (and only the caller's).
"""

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone

EVENT = "order.changed"
SCHEMA = """
CREATE TABLE IF NOT EXISTS order_history (
    order_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    lines TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS order_history_customer ON order_history (customer_id, created_at);
CREATE TABLE IF NOT EXISTS inbox (message_id TEXT PRIMARY KEY, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoint (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS source (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    first_event TEXT NOT NULL
);
"""

_local = threading.local()


def connect(path: str | None = None) -> sqlite3.Connection:
    """One connection per thread and file (waitress serves with threads)."""
    path = str(path or settings.ORDER_HISTORY_DB)
    cache = getattr(_local, "connections", None)
    if cache is None:
        cache = _local.connections = {}
    db = cache.get(path)
    if db is None:
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE takes the write lock
        # first, so two writers queue instead of failing halfway through).
        db = sqlite3.connect(path, timeout=20, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        cache[path] = db
    return db


def changed(order) -> dict:
    """The payload of `order.changed`: the order as the read model shows it."""
    return {
        "order_id": order.id, "customer_id": order.customer_id, "status": order.status,
        "reason": order.reason or "", "total_cents": order.total_cents,
        "created_at": order.created_at.isoformat(),
        "lines": [{"product_id": line.product_id, "product_name": line.product_name,
                   "quantity": line.quantity, "unit_price_cents": line.unit_price_cents}
                  for line in order.lines.all()],
    }


def emit_changed(order, parent_trace: str | None = None) -> None:
    """Write `order.changed` to the outbox, inside the caller's transaction."""
    from orders.events import outbox

    outbox.emit(EVENT, 1, order.id, changed(order), parent_trace)


_verified: set[str] = set()


def _first_event():
    from orders.models import OutboxMessage

    first = (OutboxMessage.objects.filter(type=EVENT).order_by("position")
             .values_list("message_id", flat=True).first())
    return None if first is None else str(first)


def ensure_source(path: str | None = None) -> None:
    """A read model belongs to one event log. The store remembers the id of the log's first
    event; a store built from another log (the orders database recreated, a file left from an
    earlier run) is rebuilt from this one, never mixed with it. Checked once per process."""
    path = str(path or settings.ORDER_HISTORY_DB)
    if path in _verified:
        return
    first = _first_event()
    if first is None:
        return  # no event yet: nothing to compare with (checked again on the next call)
    row = connect(path).execute("SELECT first_event FROM source").fetchone()
    if row is None or row[0] != first:
        empty = connect(path).execute("SELECT count(*) FROM inbox").fetchone()[0] == 0
        if row is None and empty:
            connect(path).execute("INSERT OR REPLACE INTO source VALUES (1, ?)", (first,))
        else:
            rebuild(path)
    _verified.add(path)


def _apply(db: sqlite3.Connection, envelope: dict, position: int) -> bool:
    """Apply one event inside an open transaction. False: seen before (the inbox)."""
    try:
        db.execute("INSERT INTO inbox (message_id, position) VALUES (?, ?)",
                   (envelope["id"], position))
    except sqlite3.IntegrityError:
        return False
    p = envelope["payload"]
    # An upsert that keeps the newest: an event older than the row's never overwrites it.
    db.execute(
        """INSERT INTO order_history
               (order_id, customer_id, status, reason, total_cents, created_at, lines, position)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (order_id) DO UPDATE SET
               customer_id = excluded.customer_id, status = excluded.status,
               reason = excluded.reason, total_cents = excluded.total_cents,
               created_at = excluded.created_at, lines = excluded.lines,
               position = excluded.position
           WHERE excluded.position > order_history.position""",
        (p["order_id"], p["customer_id"], p["status"], p["reason"], p["total_cents"],
         p["created_at"], json.dumps(p["lines"], sort_keys=True), position))
    return True


def project(envelope: dict, position: int | None = None, path: str | None = None) -> bool:
    """The consumer's handler for `order.changed`: apply it once. The position is the event's
    place in the outbox (looked up by its id: the envelope does not carry it)."""
    if position is None:
        from orders.models import OutboxMessage

        position = (OutboxMessage.objects.filter(message_id=envelope["id"])
                    .values_list("position", flat=True).first())
        if position is None:  # not from our outbox (a replayed copy of a pruned one)
            raise LookupError(f"{EVENT} {envelope['id']} is not in the outbox")
    ensure_source(path)
    db = connect(path)
    db.execute("BEGIN IMMEDIATE")
    try:
        applied = _apply(db, envelope, position)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return applied


def rebuild(path: str | None = None, batch: int = 2000) -> int:
    """Empty the store and replay every `order.changed` from the outbox's first position, in one
    transaction (readers see the old rows until it commits). Returns the events replayed."""
    from orders.models import OutboxMessage

    db = connect(path)
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DELETE FROM order_history")
        db.execute("DELETE FROM inbox")
        db.execute("DELETE FROM checkpoint")
        db.execute("DELETE FROM source")
        first = _first_event()
        if first is not None:
            db.execute("INSERT INTO source VALUES (1, ?)", (first,))
        last, count = 0, 0
        while True:
            rows = list(OutboxMessage.objects.filter(type=EVENT, position__gt=last)
                        .order_by("position").values_list("position", "envelope")[:batch])
            if not rows:
                break
            for position, envelope in rows:
                _apply(db, envelope, position)
            last, count = rows[-1][0], count + len(rows)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return count


def rows(path: str | None = None) -> list[tuple]:
    """Every row, ordered: what a rebuild must reproduce."""
    return connect(path).execute(
        "SELECT order_id, customer_id, status, reason, total_cents, created_at, lines, position"
        " FROM order_history ORDER BY order_id").fetchall()


@dataclass
class Lag:
    events: int = 0                 # order.changed events written but not yet applied
    seconds: float = 0.0            # the age of the oldest of them
    order_ids: set = field(default_factory=set)  # the orders they concern

    def header(self) -> str:
        return f"events={self.events}; seconds={self.seconds:.3f}"


def lag(path: str | None = None, limit: int = 5000) -> Lag:
    """Events behind and seconds behind.

    The store keeps a low-water mark: every `order.changed` at or below it is applied. Above it,
    the outbox's events are checked against the inbox; the mark moves up past applied ones, so
    this reads only the tail (events since the last call, at most `limit`).
    """
    from orders.models import OutboxMessage

    ensure_source(path)
    db = connect(path)
    row = db.execute("SELECT position FROM checkpoint WHERE name = 'low_water'").fetchone()
    low = row[0] if row else 0
    tail = list(OutboxMessage.objects.filter(type=EVENT, position__gt=low)
                .order_by("position").values_list("position", "message_id", "aggregate_id",
                                                  "created_at")[:limit])
    if not tail:
        return Lag()
    applied = set()
    ids = [str(message_id) for _, message_id, _, _ in tail]
    for start in range(0, len(ids), 500):  # SQLite's limit on variables
        chunk = ids[start:start + 500]
        applied.update(m for (m,) in db.execute(
            f"SELECT message_id FROM inbox WHERE message_id IN ({','.join('?' * len(chunk))})",
            chunk))
    result, mark = Lag(), low
    for position, message_id, aggregate_id, created_at in tail:
        if str(message_id) in applied:
            if not result.events:
                mark = position
            continue
        if not result.events:
            result.seconds = max(0.0, (timezone.now() - created_at).total_seconds())
        result.events += 1
        result.order_ids.add(int(aggregate_id))
    if mark != low:
        db.execute("INSERT INTO checkpoint (name, position) VALUES ('low_water', ?) "
                   "ON CONFLICT (name) DO UPDATE SET position = excluded.position "
                   "WHERE excluded.position > checkpoint.position", (mark,))
    return result


def metrics(request):
    """`GET /metrics` (Prometheus text format): the read model's lag, for a dashboard or an
    alert ("order history more than 5 s behind")."""
    from django.http import HttpResponse

    behind = lag()
    body = (
        "# HELP order_history_lag_events order.changed events written but not yet applied\n"
        "# TYPE order_history_lag_events gauge\n"
        f"order_history_lag_events {behind.events}\n"
        "# HELP order_history_lag_seconds age of the oldest event not yet applied\n"
        "# TYPE order_history_lag_seconds gauge\n"
        f"order_history_lag_seconds {behind.seconds:.3f}\n")
    return HttpResponse(body, content_type="text/plain; version=0.0.4")


def _order(row):
    """A projection row as an unsaved Order with its lines cached: the serializers and the gRPC
    mapping read it exactly as they read the write side's."""
    from orders.models import Order, OrderLine

    order_id, customer_id, status, reason, total, created_at, lines, _ = row
    order = Order(id=order_id, customer_id=customer_id, status=status, reason=reason,
                  total_cents=total, created_at=datetime.fromisoformat(created_at))
    order._prefetched_objects_cache = {"lines": [
        OrderLine(order_id=order_id, **line) for line in json.loads(lines)]}
    return order


def read_orders(customer_id: int, path: str | None = None) -> tuple[list, Lag]:
    """The customer's orders, newest first, from the read model; plus, read-your-own-writes, the
    customer's orders named by events not yet applied, as the write side has them now."""
    from orders import services

    found = {row[0]: _order(row) for row in connect(path).execute(
        "SELECT order_id, customer_id, status, reason, total_cents, created_at, lines, position"
        " FROM order_history WHERE customer_id = ?", (customer_id,))}
    behind = lag(path)
    if behind.order_ids:
        for order in services.orders_of(customer_id).filter(id__in=behind.order_ids):
            found[order.id] = order
    ordered = sorted(found.values(), key=lambda o: (o.created_at, o.id), reverse=True)
    return ordered, behind


def wait_caught_up(timeout: float = 10.0, path: str | None = None) -> Lag:
    """For tests and benches: poll until nothing is behind (or the timeout)."""
    end = time.monotonic() + timeout
    while True:
        behind = lag(path)
        if not behind.events or time.monotonic() > end:
            return behind
        time.sleep(0.02)
