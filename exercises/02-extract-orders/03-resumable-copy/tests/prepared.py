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
from pathlib import Path

from ..monolith import Monolith

try:
    import fcntl
except ImportError:  # Windows: no cache, each run prepares its own
    fcntl = None


def prepared_monolith(workdir: Path) -> Monolith:
    server = Monolith(workdir)
    server.db.parent.mkdir(parents=True, exist_ok=True)
    cache = os.environ.get("WORKSHOP_EXERCISE_CACHE")
    if not cache or fcntl is None:
        server.prepare()
        return server
    cache_dir = Path(cache)
    cache_dir.mkdir(parents=True, exist_ok=True)
    template = cache_dir / "monolith-seeded.sqlite3"
    with open(cache_dir / "monolith-seeded.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first run prepares it; the others wait, then copy
        try:
            if not template.exists():
                server.prepare()
                partial = cache_dir / f"monolith-{os.getpid()}.partial"
                shutil.copyfile(server.db, partial)
                os.replace(partial, template)
                return server
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(lock, fcntl.LOCK_UN)
    shutil.copyfile(template, server.db)
    return server
