"""Run a gRPC server the way every service of this workshop does: health, reflection, clean stop.

- the standard health service (grpc.health.v1): `workshop up`, a load balancer or Kubernetes
  probes ask it, per service name and for the server as a whole ("");
- reflection: `grpcurl -plaintext 127.0.0.1:<port> list` shows every service, no .proto needed;
- SIGTERM / Ctrl-C: stop taking calls, let running ones finish (grace), then exit;
- background jobs (a sweeper) run every few seconds on a thread of their own, beside the calls.

A DELIBERATE COPY: this file is the same in monolith/rpc/ and services/orders/orders/rpc/, and
tests/test_deliberate_copies.py fails when they differ. Each deployable keeps its own copy, so
each builds and ships alone (stage 04 gives each its own image); fix both, or neither.
"""

import functools
import logging
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass

import grpc
from django.db import close_old_connections
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

log = logging.getLogger(__name__)


def django_call(method):
    """Each RPC runs on a pool thread: give it a usable database connection, and hand it back."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        close_old_connections()
        try:
            return method(*args, **kwargs)
        finally:
            close_old_connections()

    return wrapper


@dataclass(frozen=True)
class Every:
    """A background job: `job()` every `seconds`, until the server stops."""

    seconds: float
    job: Callable[[], object]

    def run(self, stopping: threading.Event) -> None:
        job = django_call(self.job)
        while not stopping.wait(self.seconds):
            try:
                job()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the sweeper
                log.exception("%s failed; trying again in %s s", self.job.__name__, self.seconds)


def serve(register, host: str, port: int, *, background: tuple[Every, ...] = (),
          workers: int = 16, grace: float = 3.0) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    names = register(server)
    checker = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    for name in ["", *names]:
        checker.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME],
        server,
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise SystemExit(f"cannot listen on {host}:{port}: is the port taken?")
    server.start()
    log.warning("gRPC serving %s on %s:%s", ", ".join(names) or "health only", host, bound)

    stopping = threading.Event()
    jobs = []
    for every in background:
        jobs.append(threading.Thread(target=every.run, args=(stopping,), daemon=True))
        jobs[-1].start()
        log.warning("background: %s every %s s", every.job.__name__, every.seconds)

    def stop(signum, frame):
        for name in ["", *names]:  # tell health checkers first, then drain
            checker.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if hasattr(signal, "SIGBREAK"):  # Windows: what `workshop up` sends on Ctrl-C
        signal.signal(signal.SIGBREAK, stop)
    while not stopping.wait(0.5):  # a short wait: signals are handled between waits
        pass
    server.stop(grace).wait()
    for job in jobs:
        job.join(grace)
