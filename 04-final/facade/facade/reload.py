"""Live reload: watch the table file and swap the table in force without a restart.

Polling (stat every half second) instead of inotify/FSEvents: one system call per interval,
no extra dependency, the same on Linux, macOS and Windows, and it also sees the file being
replaced by an editor's rename-into-place (the inode changes).

The swap is one attribute assignment in the event loop. A request reads the table once when it
starts, so it finishes on the table it began with; there is no half-applied table. A file that
does not parse or validate is rejected as a whole and the previous table stays in force.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from .table import RouteTable, TableError, load_table

log = logging.getLogger("facade")

Signature = tuple[int, int, int]  # mtime in ns, size, inode


class TableWatcher:
    def __init__(
        self,
        path: Path,
        interval: float,
        on_loaded: Callable[[RouteTable], None],
        on_rejected: Callable[[str], None],
    ) -> None:
        self.path = path
        self.interval = interval
        self.on_loaded = on_loaded
        self.on_rejected = on_rejected
        self.version = 0
        self.last_error: dict[str, str] | None = None
        self._seen: Signature | None = None

    def load_initial(self) -> RouteTable:
        """The first load, at startup: here a bad table is fatal (there is nothing to keep)."""
        self._seen = self._signature()  # before reading: an edit during startup is not missed
        try:
            table = load_table(self.path, version=1)
        except (TableError, OSError) as exc:
            raise TableError(f"routing table {self.path} rejected: {_problem(exc)}") from None
        self.version = 1
        return table

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.check()

    def check(self) -> None:
        signature = self._signature()
        if signature == self._seen:
            return
        self._seen = signature
        try:
            table = load_table(self.path, version=self.version + 1)
        except (TableError, OSError) as exc:
            problem = _problem(exc)
            self.last_error = {
                "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "problem": problem,
            }
            # One line, naming the file and the problem, and what happens now.
            log.error(
                "routing table %s rejected: %s; keeping version %d in force",
                self.path, problem, self.version,
            )
            self.on_rejected(problem)
            return
        self.version = table.version
        self.last_error = None
        log.info("routing table %s reloaded: version %d: %s", self.path, table.version,
                 summary(table))
        self.on_loaded(table)

    def _signature(self) -> Signature | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None  # missing for now (an editor may be replacing it); the load reports it
        return (st.st_mtime_ns, st.st_size, st.st_ino)


def summary(table: RouteTable) -> str:
    """A one-line picture of the table, for the log: where each prefix goes."""
    parts = []
    for route in table.routes:
        if route.new is None:
            where = route.old
        elif route.shadow:
            where = f"{route.old} (shadow to {route.new})"
        else:
            where = f"{route.old} {100 - route.weight:g}% / {route.new} {route.weight:g}%"
        methods = f" [{','.join(sorted(route.methods))}]" if route.methods else ""
        parts.append(f"{route.prefix}{methods} -> {where}")
    return ", ".join(parts)


def _problem(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"cannot read the file ({exc.strerror or exc})"
    return str(exc)
