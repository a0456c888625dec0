"""The Celery worker that runs the saga's steps and the event consumers, with a health port.

One process, one message at a time (the solo pool, prefetch 1): at-least-once settings in
orders_service/celery.py. Its gRPC health service answers on --port so that `workshop up` sees it
live; Celery itself owns the main thread and its signals (SIGTERM: a warm shutdown).
"""

import logging
import os
import threading
import time
from concurrent import futures

import grpc
import redis
from celery import signals
from django.conf import settings
from django.core.management.base import BaseCommand
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from orders.events import consumer

log = logging.getLogger(__name__)
# Longer than any one task can take (a payment timeout, an inventory call and its retries).
STALL_SECONDS = float(os.environ.get("WORKER_STALL_SECONDS", "15"))


class Watchdog:
    """A liveness check the worker runs on itself.

    Seen on this stack: Redis restarted under a worker holding an unacknowledged message (acks
    late, prefetch 1); the worker reconnects, but its ack of that message never lands, so it waits
    forever for a slot to take the next one. Messages pile up and nothing moves. A worker that
    has done nothing for STALL_SECONDS while messages wait is not alive in any useful sense: it
    says so on its health port and exits, and its supervisor (`workshop up`, Kubernetes) starts a
    fresh one. Redis hands the stranded message out again; the consumers are idempotent.
    """

    def __init__(self, checker):
        self.checker = checker
        self.last = time.monotonic()
        signals.task_prerun.connect(self.alive, weak=False)
        signals.task_postrun.connect(self.alive, weak=False)

    def alive(self, *args, **kwargs):
        self.last = time.monotonic()

    def waiting(self, client) -> int:
        try:
            return client.llen("orders")
        except redis.RedisError:
            self.alive()  # the broker is down: nobody could do anything; not our stall
            return 0

    def run(self):
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2,
                                      socket_connect_timeout=2)
        while True:
            time.sleep(1)
            waiting = self.waiting(client)
            if not waiting:
                self.alive()
            elif time.monotonic() - self.last > STALL_SECONDS:
                log.error("worker stalled: %s message(s) waiting, none taken for %.0f s; "
                          "exiting so that a fresh worker takes over", waiting, STALL_SECONDS)
                self.checker.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
                os._exit(3)


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
        threading.Thread(target=Watchdog(checker).run, daemon=True).start()
        try:
            consumer.app.worker_main([
                "worker", "--pool=solo", "--concurrency=1", f"--loglevel={loglevel}",
                "--queues=orders", "--without-gossip", "--without-mingle",
                "--without-heartbeat", "--hostname=orders@%h",
            ])
        finally:
            server.stop(0)
