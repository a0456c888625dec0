"""The worker's watchdog: a separate process that kills a worker the queue says is stuck.

Seen on this stack: Redis restarted under a worker holding an unacknowledged message (acks
late, prefetch 1); the worker reconnects, but its ack never lands and it takes nothing more.
Messages pile up and nothing moves, while the worker itself looks alive. A check inside the
worker (a thread fed by Celery's task signals) missed it once in CI: it trusts the worker's own
view of itself. This one trusts only the queue. The next message to be taken is the one at the
list's consuming end (kombu's Redis transport pushes on the left, pops on the right); if that
same message is still there after STALL seconds, nobody is taking messages, so the worker is
killed (SIGKILL) and its supervisor (`workshop up`, Kubernetes) starts a fresh one. Redis hands
the stranded message out again after its visibility timeout; the consumers are idempotent.

Run by `manage.py worker`, beside the Celery worker it watches, in the same process group (so
`workshop kill` and `freeze` reach both); it exits when that worker is gone.

    python -m orders.events.watchdog <redis url> <queue> <worker pid> <stall seconds>
"""

from __future__ import annotations

import os
import signal
import sys
import time

import redis


def watch(url: str, queue: str, pid: int, stall: float, every: float = 1.0) -> str:
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    head, since = None, time.monotonic()
    while os.getppid() == pid:  # the worker started us: once it is gone, we are orphaned
        time.sleep(every)
        try:
            now_head = client.lindex(queue, -1)
        except redis.RedisError:
            # The broker is down: nobody can take anything, not the worker's stall.
            head, since = None, time.monotonic()
            continue
        if now_head is None or now_head != head:
            head, since = now_head, time.monotonic()  # empty, or the queue moved
        elif time.monotonic() - since > stall:
            try:
                waiting = client.llen(queue)
            except redis.RedisError:
                continue
            print(f"watchdog: worker stalled: {waiting} message(s) waiting, the next one not "
                  f"taken for {stall:.0f} s; killing it (pid {pid}) so that a fresh worker "
                  "takes over", file=sys.stderr, flush=True)
            os.kill(pid, signal.SIGKILL)
            return "killed"
    return "worker gone"


if __name__ == "__main__":
    url, queue, pid, stall = sys.argv[1:5]
    watch(url, queue, int(pid), float(stall))
