"""Sales by product: a read model fed by the event stream (orders/events/stream.py) through a
Redis consumer group, the way a Kafka consumer group feeds one (T23, T24).

What it shows: units and revenue of the confirmed orders, per product; an order cancelled after
its confirmation is taken back out. It is built from `order.changed` (the order as it is now,
lines and prices included), so it needs nothing from the write side.

- A consumer group (`--group`, e.g. `sales-by-product`) has one offset in the stream; its members
  share the entries (each entry goes to one member), every group reads every entry. Two groups
  are two independent read models: each has its own rows in this store, keyed by the group.
- At least once, de-duplicated here: an entry is acknowledged (XACK) after its effect committed,
  with its message id in this store's inbox in the same SQLite transaction. A reader killed
  between the commit and the ack gets the entry again and does nothing; the relay's own
  duplicates (it appends before it marks sent) are caught the same way.
- Out of order is harmless: an order's row keeps the outbox position of the event that wrote it,
  and an older one is recorded but changes nothing.
- A member that dies leaves its entries pending (read, not acknowledged). Any member of the group
  takes over those idle for more than STREAM_CLAIM_IDLE_SECONDS (XAUTOCLAIM), and a restarted
  process is a new member that does the same: no entry stays stranded. A member left with
  nothing pending and silent for six such periods is removed from the group (`tidy`).
- Replay: `manage.py stream replay --group G --from 0 --rebuild` empties the group's rows and
  moves its offset to the start; the running reader rebuilds them from the stream.
- Poison (an entry that is not one of our events) is kept aside with its error and acknowledged:
  it never stops the group.
- A batch (up to 100 entries) is applied in one SQLite transaction and acknowledged with one
  XACK: per entry, a commit and a round trip would cost more than the work.
"""

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from orders.events import contracts, stream

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS sales (
    grp TEXT NOT NULL,
    product_id INTEGER NOT NULL,
    product_name TEXT NOT NULL,
    units INTEGER NOT NULL,
    revenue_cents INTEGER NOT NULL,
    PRIMARY KEY (grp, product_id)
);
CREATE TABLE IF NOT EXISTS sales_orders (
    grp TEXT NOT NULL,
    order_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    lines TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (grp, order_id)
);
CREATE TABLE IF NOT EXISTS sales_inbox (
    grp TEXT NOT NULL,
    message_id TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    PRIMARY KEY (grp, message_id)
);
CREATE TABLE IF NOT EXISTS sales_poison (
    grp TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    error TEXT NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (grp, entry_id)
);
"""
COUNTED = "confirmed"  # the status whose orders are sales

_local = threading.local()


def connect(path: str | None = None) -> sqlite3.Connection:
    path = str(path or settings.SALES_DB)
    cache = getattr(_local, "connections", None)
    if cache is None:
        cache = _local.connections = {}
    db = cache.get(path)
    if db is None:
        db = sqlite3.connect(path, timeout=20, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        cache[path] = db
    return db


def _add(db, group: str, lines: list, sign: int) -> None:
    for line in lines:
        units = sign * line["quantity"]
        db.execute(
            """INSERT INTO sales (grp, product_id, product_name, units, revenue_cents)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (grp, product_id) DO UPDATE SET
                   units = units + excluded.units,
                   revenue_cents = revenue_cents + excluded.revenue_cents,
                   product_name = excluded.product_name""",
            (group, line["product_id"], line["product_name"], units,
             units * line["unit_price_cents"]))


def _apply(db, group: str, entry: stream.Entry) -> bool:
    """Inside an open transaction. False: this message was applied before (the inbox)."""
    try:
        db.execute("INSERT INTO sales_inbox (grp, message_id, entry_id) VALUES (?, ?, ?)",
                   (group, entry.message_id, entry.id))
    except sqlite3.IntegrityError:
        return False
    if entry.type != "order.changed":
        return True  # order.confirmed / order.rejected say nothing the next order.changed won't
    p = entry.envelope["payload"]
    row = db.execute("SELECT status, lines, position FROM sales_orders WHERE grp = ? AND "
                     "order_id = ?", (group, p["order_id"])).fetchone()
    if row is not None and row[2] >= entry.position:
        return True  # an older event than the one already applied: changes nothing
    if row is not None and row[0] == COUNTED:
        _add(db, group, json.loads(row[1]), -1)  # what it counted before, out
    if p["status"] == COUNTED:
        _add(db, group, p["lines"], +1)
    db.execute(
        """INSERT INTO sales_orders (grp, order_id, status, lines, position) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (grp, order_id) DO UPDATE SET
               status = excluded.status, lines = excluded.lines, position = excluded.position""",
        (group, p["order_id"], p["status"], json.dumps(p["lines"], sort_keys=True),
         entry.position))
    return True


def _keep_poison(db, group: str, entry_id: str, fields: dict, error: str) -> None:
    db.execute(
        "INSERT OR REPLACE INTO sales_poison (grp, entry_id, error, fields) VALUES (?, ?, ?, ?)",
        (group, entry_id, error[:2000], json.dumps(fields, sort_keys=True)[:20000]))
    log.error("stream %s, group %s: entry %s kept aside: %s", stream.STREAM, group, entry_id,
              error)


def forget(group: str, path: str | None = None) -> None:
    """Empty `group`'s rows and inbox, before it reads the stream again from the start."""
    db = connect(path)
    db.execute("BEGIN IMMEDIATE")
    for table in ("sales", "sales_orders", "sales_inbox", "sales_poison"):
        db.execute(f"DELETE FROM {table} WHERE grp = ?", (group,))  # noqa: S608 - our names
    db.execute("COMMIT")


def sales(group: str, path: str | None = None) -> list[tuple]:
    """(product_id, product_name, units, revenue_cents), best sellers first."""
    return connect(path).execute(
        "SELECT product_id, product_name, units, revenue_cents FROM sales WHERE grp = ? "
        "AND units != 0 ORDER BY units DESC, product_id", (group,)).fetchall()


def state(group: str, path: str | None = None) -> dict:
    """Everything the group's model holds (but which entry delivered what): what a replay must
    reproduce."""
    db = connect(path)
    return {
        "sales": sales(group, path),
        "orders": db.execute("SELECT order_id, status, lines, position FROM sales_orders "
                             "WHERE grp = ? ORDER BY order_id", (group,)).fetchall(),
        "messages": {m for (m,) in db.execute(
            "SELECT message_id FROM sales_inbox WHERE grp = ?", (group,))},
    }


@dataclass
class Reader:
    """One member of a consumer group: reads, applies, acknowledges."""

    group: str
    name: str
    path: str | None = None
    url: str | None = None
    count: int = 100
    block_ms: int = 1000
    claim_idle_ms: int | None = None
    _own_pending_done: bool = False
    _tidied_at: float = 0.0

    def __post_init__(self):
        if self.claim_idle_ms is None:
            self.claim_idle_ms = int(settings.STREAM_CLAIM_IDLE_SECONDS * 1000)

    @property
    def redis(self) -> redis.Redis:
        return stream.client(self.url)

    def _handle(self, entries) -> int:
        """Apply a batch in one SQLite transaction (each entry with its inbox row), then
        acknowledge the batch with one XACK. A reader killed in between gets the entries again,
        and the inbox says "done"; one transaction and one round trip per batch, not per entry."""
        if not entries:
            return 0
        db = connect(self.path)
        db.execute("BEGIN IMMEDIATE")
        try:
            for entry_id, fields in entries:
                if not fields:  # trimmed away while pending: nothing left to apply
                    continue
                try:
                    entry = stream.Entry.parse(entry_id, fields)
                    contracts.check(entry.envelope)
                except (KeyError, ValueError, TypeError, contracts.ContractError) as exc:
                    _keep_poison(db, self.group, entry_id, fields, f"{type(exc).__name__}: {exc}")
                    continue
                _apply(db, self.group, entry)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.redis.xack(stream.STREAM, self.group, *[entry_id for entry_id, _ in entries])
        return len(entries)

    def _read(self, offset: str, block: int | None) -> list:
        try:
            answer = self.redis.xreadgroup(self.group, self.name, {stream.STREAM: offset},
                                           count=self.count, block=block)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream is gone (an embedded Redis restarted empty): a new group on a new one.
            stream.ensure_group(self.group, "0", self.url)
            return []
        return answer[0][1] if answer else []

    def tidy(self) -> list[str]:
        """Forget members gone for good: nothing pending, silent for 6 claim periods (a live
        member reads at least every second). Each restart of a process is a new member: without
        this, `stream info` would list every one that ever lived. Returns the names removed."""
        gone = []
        for member in self.redis.xinfo_consumers(stream.STREAM, self.group):
            if (member["name"] != self.name and member["pending"] == 0
                    and member["idle"] > 6 * self.claim_idle_ms):
                self.redis.xgroup_delconsumer(stream.STREAM, self.group, member["name"])
                gone.append(member["name"])
        self._tidied_at = time.monotonic()
        return gone

    def step(self, block: bool = True) -> int:
        """One turn: this member's own pending entries (once, after a start), entries other
        members left idle too long, then new ones. Returns how many were handled."""
        stream.ensure_group(self.group, "0", self.url)
        done = 0
        if not self._own_pending_done:
            mine = self._read("0", None)  # "0": what this member read and never acknowledged
            done += self._handle(mine)
            self._own_pending_done = not mine
        _next, claimed, *_deleted = self.redis.xautoclaim(
            stream.STREAM, self.group, self.name, self.claim_idle_ms, "0-0", count=self.count)
        done += self._handle(claimed)
        if time.monotonic() - self._tidied_at > self.claim_idle_ms / 1000:
            self.tidy()
        if done:
            return done
        return self._handle(self._read(">", self.block_ms if block else None))

    def drain(self, timeout: float = 30.0) -> int:
        """Step until a turn finds nothing (for tests and the `stream` command)."""
        end, total = time.monotonic() + timeout, 0
        while time.monotonic() < end:
            done = self.step(block=False)
            if not done:
                return total
            total += done
        raise TimeoutError(f"group {self.group} still reading after {timeout} s")

    def forever_step(self) -> None:
        """`manage.py stream_consumer`'s loop turn. Redis down: wait and try again."""
        try:
            self.step()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            log.warning("stream reader %s/%s: %s; trying again", self.group, self.name, exc)
            time.sleep(1)
