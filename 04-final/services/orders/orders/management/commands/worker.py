"""The Celery worker that runs the saga's steps and the event consumers, with a health port.

One process, one message at a time (the solo pool, prefetch 1): at-least-once settings in
orders_service/celery.py. Its gRPC health service answers on --port so that `workshop up` sees it
live; Celery itself owns the main thread and its signals (SIGTERM: a warm shutdown).
"""

import os
import subprocess
import sys
from concurrent import futures
from pathlib import Path

import grpc
from django.conf import settings
from django.core.management.base import BaseCommand
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from orders.events import consumer

SERVICE = Path(__file__).resolve().parents[3]
# Longer than any one task can take (a payment timeout, an inventory call and its retries): the
# next message may wait that long behind the one being worked on (orders/events/watchdog.py).
STALL_SECONDS = float(os.environ.get("WORKER_STALL_SECONDS", "15"))


class Command(BaseCommand):
    help = "Run the Celery worker that consumes the orders queue."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=50055,
                            help="where its gRPC health service answers")
        parser.add_argument("--loglevel", default=os.environ.get("WORKER_LOGLEVEL", "WARNING"))

    def handle(self, *args, host, port, loglevel, **options):
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        checker = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(checker, server)
        checker.set("", health_pb2.HealthCheckResponse.SERVING)
        if not server.add_insecure_port(f"{host}:{port}"):
            raise SystemExit(f"cannot listen on {host}:{port}: is the port taken?")
        server.start()
        # Its own process, not a thread: it judges the worker by the queue alone (watchdog.py).
        watchdog = subprocess.Popen([sys.executable, "-m", "orders.events.watchdog",
                                     settings.REDIS_URL, "orders", str(os.getpid()),
                                     str(STALL_SECONDS)], cwd=SERVICE)
        try:
            consumer.app.worker_main([
                "worker", "--pool=solo", "--concurrency=1", f"--loglevel={loglevel}",
                "--queues=orders", "--without-gossip", "--without-mingle",
                "--without-heartbeat", "--hostname=orders@%h",
            ])
        finally:
            watchdog.kill()
            watchdog.wait()
            server.stop(0)
