"""`python -m facade [--host H] [--port P] [--routes FILE]`: run the facade.

Defaults come from the environment (FACADE_HOST, FACADE_PORT, FACADE_ROUTES). No access log:
one log line per request costs more CPU than the proxying itself; /-/metrics counts the
requests instead. SIGTERM or Ctrl-C stops it: no new connections, answers in progress finish
(up to 5 s), then it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys

from .app import Facade
from .server import Limits, Server

log = logging.getLogger("facade")


async def serve(host: str, port: int) -> int:
    facade = Facade()
    try:
        await facade.startup()
    except Exception as exc:
        log.error("facade cannot start: %s", exc)
        return 1
    # Every request allocates a few hundred short-lived objects and almost no reference cycles:
    # with the default threshold the cycle collector ran every few requests. Objects made at
    # startup (modules, the table) are frozen out of its scans.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    settings = facade.settings
    assert settings is not None
    server = Server(facade.handle, Limits(
        max_head_bytes=settings.max_header_bytes,
        max_body_bytes=settings.max_body_bytes,
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        keepalive_idle=settings.client_idle_timeout,
    ))
    facade.metrics.client_connections.set_function(lambda: len(server.connections))
    try:
        await server.listen(host, port)
    except OSError as exc:
        log.error("facade cannot listen on %s:%d: %s", host, port, exc.strerror or exc)
        await facade.shutdown()
        return 1
    log.info("facade listening on http://%s:%d", host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C raises instead
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("facade stopping")
    await server.stop()
    await facade.shutdown()
    return 0


def raise_open_file_limit(wanted: int = 65536) -> None:
    """Every client connection is a file descriptor, and a proxied request a second one.

    Many systems start processes with a soft limit of 1024: a few hundred concurrent clients
    would then make accept() fail (EMFILE). The soft limit may be raised up to the hard one
    without privileges, as nginx's worker_rlimit_nofile or uvicorn's users do by hand.
    """
    try:
        import resource  # not on Windows, whose limits are not these
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facade", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("FACADE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("FACADE_PORT", "8080")))
    parser.add_argument(
        "--routes", help="routing table file (default: $FACADE_ROUTES, else routes.toml)"
    )
    args = parser.parse_args(argv)
    raise_open_file_limit()
    if args.routes:
        os.environ["FACADE_ROUTES"] = args.routes  # read by the app at startup
    try:
        import uvloop  # the same loop uvicorn would pick; absent on Windows
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        return runner(serve(args.host, args.port))
    except KeyboardInterrupt:  # Windows, where there is no signal handler
        return 0


if __name__ == "__main__":
    sys.exit(main())
