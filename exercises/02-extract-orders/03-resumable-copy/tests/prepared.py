"""The monolith's database, migrated and seeded, made once and copied.

`python3 -m workshop exercise verify` runs these checks many times at once (the solution, the
starting files, each wrong solution): it names a folder shared by those runs in
WORKSHOP_EXERCISE_CACHE, where the first run leaves a migrated and seeded monolith database for
the others to copy, instead of each one running the migrations and the seed again. Without it
(an attendee's `check`), each run prepares its own, as the stage's tests do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from ..monolith import Monolith

try:
    import fcntl
except ImportError:  # Windows: no cache, each run prepares its own
    fcntl = None


def cached(name: str, dest: Path, make: Callable[[Path], None]) -> None:
    """Make the file `dest` with `make(dest)`, or copy the one an earlier run of this
    `exercise verify` made under the same name."""
    cache = os.environ.get("WORKSHOP_EXERCISE_CACHE")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not cache or fcntl is None:
        make(dest)
        return
    cache_dir = Path(cache)
    cache_dir.mkdir(parents=True, exist_ok=True)
    template = cache_dir / f"{name}.sqlite3"
    with open(cache_dir / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first run makes it; the others wait, then copy
        try:
            if not template.exists():
                make(dest)
                partial = cache_dir / f"{name}-{os.getpid()}.partial"
                shutil.copyfile(dest, partial)
                os.replace(partial, template)
                return
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(lock, fcntl.LOCK_UN)
    shutil.copyfile(template, dest)


def prepared_monolith(workdir: Path) -> Monolith:
    """The monolith's database, migrated and seeded (not started)."""
    server = Monolith(workdir)
    cached("monolith-seeded", server.db, lambda _: server.prepare())
    return server
