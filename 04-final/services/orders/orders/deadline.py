"""The deadline budget (docs/api-contract.md): how long a request may take, and each step's share.

The front door stamps every request with `X-Request-Budget-Ms`: the time this service may spend
before answering (the front door itself waits that long plus a margin, so our answer always
reaches it). Our deadline is the moment the request arrived plus that budget; without the header,
our own REQUEST_BUDGET_MS, which is also the most a caller may ask for.

Each outbound call gets min(its own step timeout, what is left - COMPENSATION_MS): the time kept
back is what undoing needs (release the units, refund the card), so that even a failure at the
last moment is undone and answered before the deadline. Nothing new is committed past it.
"""

import time
from dataclasses import dataclass

from django.conf import settings

HEADER = "X-Request-Budget-Ms"


class DeadlineExceeded(Exception):
    """Our deadline passed (or would, before the next step could finish): nothing was kept."""

    code = "deadline_exceeded"


@dataclass(frozen=True)
class Deadline:
    at: float  # on time.monotonic()'s clock

    @classmethod
    def after(cls, seconds: float, start: float | None = None) -> "Deadline":
        return cls((time.monotonic() if start is None else start) + seconds)

    @classmethod
    def from_budget(cls, header: str | None, arrived: float | None = None) -> "Deadline":
        """The request's deadline: `arrived` (when it reached us) + its budget, or ours."""
        most = settings.REQUEST_BUDGET_MS
        try:
            budget = min(max(int(header), 0), most) if header is not None else most
        except ValueError:  # not a number: as if the caller had sent none
            budget = most
        return cls.after(budget / 1000, arrived)

    def left(self) -> float:
        return self.at - time.monotonic()

    def timeout(self, step: float, keep: float | None = None) -> float:
        """What one call may take: its step timeout, or what is left after keeping `keep` s
        (default COMPENSATION_MS) back for undoing. Raises when nothing is left."""
        keep = settings.COMPENSATION_MS / 1000 if keep is None else keep
        allowed = min(step, self.left() - keep)
        if allowed <= 0:
            raise DeadlineExceeded(f"{-self.left():.3f} s past the deadline" if self.left() < 0
                                   else "too little time left to finish and still undo")
        return allowed

    def check(self, keep: float | None = None) -> None:
        """Raise unless more than `keep` s (default COMPENSATION_MS) is left."""
        self.timeout(float("inf"), keep)
