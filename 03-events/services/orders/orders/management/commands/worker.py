"""The Celery worker that runs the saga's steps and the event consumers, with a health port.

One process, one message at a time (the solo pool, prefetch 1): at-least-once settings in
orders_service/celery.py. Its gRPC health service answers on --port so that `workshop up` sees it
live; Celery itself owns the main thread and its signals (SIGTERM: a warm shutdown).
"""

from concurrent import futures

import grpc
from django.core.management.base import BaseCommand
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from orders.events import consumer


class Command(BaseCommand):
    help = "Run the Celery worker that consumes the orders queue."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=50055,
                            help="where its gRPC health service answers")
        parser.add_argument("--loglevel", default="WARNING")

    def handle(self, *args, host, port, loglevel, **options):
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        checker = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(checker, server)
        checker.set("", health_pb2.HealthCheckResponse.SERVING)
        if not server.add_insecure_port(f"{host}:{port}"):
            raise SystemExit(f"cannot listen on {host}:{port}: is the port taken?")
        server.start()
        try:
            consumer.app.worker_main([
                "worker", "--pool=solo", "--concurrency=1", f"--loglevel={loglevel}",
                "--queues=orders", "--without-gossip", "--without-mingle",
                "--without-heartbeat", "--hostname=orders@%h",
            ])
        finally:
            server.stop(0)
