"""Run a gRPC server the way every service of this workshop does: health, reflection, clean stop.

- the standard health service (grpc.health.v1): `workshop up`, a load balancer or Kubernetes
  probes ask it, per service name and for the server as a whole ("");
- reflection: `grpcurl -plaintext 127.0.0.1:50052 list` shows every service, no .proto needed;
- SIGTERM / Ctrl-C: stop taking calls, let running ones finish (grace), then exit.
"""

import logging
import signal
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

log = logging.getLogger(__name__)


def serve(register, host: str, port: int, workers: int = 16, grace: float = 3.0) -> None:
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
    log.warning("gRPC serving %s on %s:%s", ", ".join(names), host, bound)

    stopping = threading.Event()

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
