"""`python -m facade [--host H] [--port P] [--routes FILE]`: run the facade under uvicorn.

The same as `python -m uvicorn facade.app:app --no-access-log --no-proxy-headers`, defaults from the
environment (FACADE_HOST, FACADE_PORT, FACADE_ROUTES). No access log: one log line per request
costs more CPU than the proxying itself; /-/metrics counts the requests instead.
"""

from __future__ import annotations

import argparse
import os

import uvicorn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m facade", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("FACADE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("FACADE_PORT", "8080")))
    parser.add_argument(
        "--routes", help="routing table file (default: $FACADE_ROUTES, else routes.toml)"
    )
    args = parser.parse_args(argv)
    if args.routes:
        os.environ["FACADE_ROUTES"] = args.routes  # read by the app at startup
    uvicorn.run(
        "facade.app:app",
        host=args.host,
        port=args.port,
        access_log=False,
        # Off: uvicorn would otherwise believe X-Forwarded-For from local clients and report
        # the forged address as the client; the facade is the edge and appends the real peer.
        proxy_headers=False,
        # the facade has its own lifespan; "on" makes a failed startup stop the process
        lifespan="on",
    )


if __name__ == "__main__":
    main()
