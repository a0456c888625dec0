"""The orders event stream: every domain event (`order.*`) appended to a Redis Stream, a
replayable log that any number of consumer groups read at their own pace (T23).

The Celery path (orders/events/relay.py -> consumer.py) is a queue: a message is handed to one
worker and gone once acknowledged; nobody can read it again, and a new reader never sees what
came before it. A stream keeps its entries (up to STREAM_MAXLEN): each consumer group has its own
offset in it, a new group can start from the first entry, and an offset can be moved back to
read again. That is what Kafka, Kinesis and EventBridge's archive/replay give (03-events/README.md,
"Event streams", maps the terms).

- Producer: the relay appends a pass's domain events with XADD, in outbox order, BEFORE it marks
  them sent: at least once (a relay killed in between appends them again), so each entry carries
  the outbox message id and consumers de-duplicate on it. Saga commands are not events: they
  stay on the Celery queue only.
- Entry ids are Redis's own (`<ms>-<seq>`, increasing): the offsets. The outbox position rides
  in a field, so a reader can tell an older event from a newer one for the same order.
- Retention: XADD MAXLEN ~ STREAM_MAXLEN trims the oldest entries (approximately, in whole
  blocks, which is cheaper). Trimmed entries cannot be replayed: the outbox stays the full log.
- The consumer side is orders/projections/sales_by_product.py (`manage.py stream_consumer`);
  `manage.py stream info|read|replay` inspects the log and moves a group's offset.
"""

import json
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis
from django.conf import settings

# The Kafka topic this stream stands for: contracts/kafka/topics.yaml declares the same name.
TOPIC = "orders"
STREAM = f"stream:{TOPIC}"
# Which outbox messages are events for the stream (the `saga.*` commands are not).
EVENT_PREFIX = "order."

_clients: dict[str, redis.Redis] = {}


def client(url: str | None = None) -> redis.Redis:
    url = url or settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10,
                                             decode_responses=True)
    return _clients[url]


def carries(message_type: str) -> bool:
    return message_type.startswith(EVENT_PREFIX)


def fields_of(row) -> dict:
    """An outbox row as a stream entry: the envelope, and what a reader filters or orders on
    without parsing it."""
    return {"message_id": str(row.message_id), "type": row.type, "version": str(row.version),
            "aggregate_id": row.aggregate_id, "position": str(row.position),
            "envelope": json.dumps(row.envelope, sort_keys=True)}


def append(rows: Iterable, url: str | None = None) -> list[str]:
    """XADD each domain event among `rows` (outbox rows, in position order), in one round trip.
    Returns the entry ids. Raises when Redis does not answer: the caller then does not mark the
    rows sent, and appends them again on its next pass."""
    events = [row for row in rows if carries(row.type)]
    if not events:
        return []
    pipe = client(url).pipeline(transaction=False)
    for row in events:
        pipe.xadd(STREAM, fields_of(row), maxlen=settings.STREAM_MAXLEN, approximate=True)
    return pipe.execute()


@dataclass
class Entry:
    id: str  # the stream offset, `<ms>-<seq>`
    message_id: str
    type: str
    position: int  # in the outbox
    envelope: dict = field(repr=False)

    @classmethod
    def parse(cls, entry_id: str, fields: dict) -> "Entry":
        """Raises (KeyError, ValueError) on an entry that is not one of ours: the reader keeps
        it aside as poison rather than stop on it."""
        return cls(entry_id, fields["message_id"], fields["type"], int(fields["position"]),
                   json.loads(fields["envelope"]))


def ensure_group(group: str, start: str = "0", url: str | None = None) -> bool:
    """Create `group` on the stream (and the stream, when it does not exist yet) with its offset
    at `start` ("0": every entry still kept, Kafka's auto.offset.reset=earliest; "$": only
    entries added from now on, latest). False: it existed (its offset is left alone)."""
    try:
        client(url).xgroup_create(STREAM, group, id=start, mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
        return False
    return True


def set_offset(group: str, offset: str, url: str | None = None) -> None:
    """Move `group` back (or forward) to read everything after `offset` again: Kafka's
    `kafka-consumer-groups --reset-offsets --to-offset`. Entries a member has read but not
    acknowledged stay pending with it (reclaimed as usual)."""
    ensure_group(group, offset, url)
    client(url).xgroup_setid(STREAM, group, offset)


def offset_before(entry_id: str) -> str:
    """The offset that makes `entry_id` the next one read (XGROUP SETID takes the last one
    delivered): one sequence number earlier, or the end of the previous millisecond."""
    if entry_id in ("0", "0-0"):
        return "0"
    ms, _, seq = entry_id.partition("-")
    seq = int(seq or 0)
    if seq > 0:
        return f"{ms}-{seq - 1}"
    return f"{int(ms) - 1}-18446744073709551615" if int(ms) > 0 else "0"


def read(start: str = "-", count: int = 20, url: str | None = None) -> list[Entry]:
    """Entries from `start` on (inclusive), oldest first, without any group: XRANGE. An entry
    that is not one of ours is shown as such, not fatal."""
    out = []
    for entry_id, fields in client(url).xrange(STREAM, min=start, count=count):
        try:
            out.append(Entry.parse(entry_id, fields))
        except (KeyError, ValueError, TypeError) as exc:
            out.append(Entry(entry_id, fields.get("message_id", ""),
                             f"(not an event: {type(exc).__name__})", 0, {}))
    return out


def info(url: str | None = None) -> dict:
    """The stream and its groups: length, first and last entry, each group's offset, pending
    entries and (Redis 7) lag."""
    r = client(url)
    if not r.exists(STREAM):
        return {"stream": STREAM, "length": 0, "groups": []}
    about = r.xinfo_stream(STREAM)
    groups = []
    for group in r.xinfo_groups(STREAM):
        consumers = r.xinfo_consumers(STREAM, group["name"])
        lag = group.get("lag")
        if lag is None:  # Redis < 7 (the embedded one is 6.2) does not say: count them
            lag = len(r.xrange(STREAM, min=f"({group['last-delivered-id']}", count=100_000))
        groups.append({"name": group["name"], "last_delivered_id": group["last-delivered-id"],
                       "pending": group["pending"], "lag": lag,
                       "consumers": [(c["name"], c["pending"], c["idle"]) for c in consumers]})
    first, last = about.get("first-entry"), about.get("last-entry")
    return {"stream": STREAM, "length": about["length"],
            "first": first[0] if first else None, "last": last[0] if last else None,
            "first_position": int(first[1]["position"]) if first else None,
            "last_position": int(last[1]["position"]) if last else None,
            "groups": groups}


def member_name() -> str:
    """This reader's name within its group: host and process, so a restarted process is a new
    member (its predecessor's pending entries are reclaimed from it, XAUTOCLAIM)."""
    return f"{socket.gethostname()}-{os.getpid()}"
