"""The deadline budget (docs/api-contract.md): how long the caller lets this request run.

The front door (the facade) stamps `X-Request-Budget-Ms` on every request it forwards and waits
a margin longer than that. A service that keeps its deadline therefore always answers before
the front door gives up, and a timeout can never hide a success: past its deadline, placing an
order rolls back whole and answers 504 `deadline_exceeded`, nothing kept, so a retry with the
same Idempotency-Key is safe. No header (a direct call): the service's own REQUEST_BUDGET_MS.
"""

import time

from django.conf import settings

HEADER = "X-Request-Budget-Ms"


class DeadlineExceeded(Exception):
    pass


def deadline_of(request) -> float:
    """time.monotonic() by which this request must be answered."""
    raw = request.headers.get(HEADER, "")
    budget_ms = int(raw) if raw.isascii() and raw.isdigit() else settings.REQUEST_BUDGET_MS
    return time.monotonic() + budget_ms / 1000


def check(deadline: float) -> None:
    if time.monotonic() >= deadline:
        raise DeadlineExceeded()
