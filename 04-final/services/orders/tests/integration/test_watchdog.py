"""The worker's watchdog (orders/events/watchdog.py) against a real Redis, with a stand-in worker.

The stand-in is a process that starts the watchdog as `manage.py worker` does, then either takes
nothing (a worker stuck after a Redis restart: it must be killed) or takes each message as it
comes (a healthy worker: it must be left alone, however long the queue stays non-empty).
"""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

SERVICE = Path(__file__).resolve().parents[2]
STAND_IN = """
import subprocess, sys, time, os
import redis
url, queue, take = sys.argv[1], sys.argv[2], sys.argv[3] == "take"
watchdog = [sys.executable, "-m", "orders.events.watchdog", url, queue, str(os.getpid()), "1"]
subprocess.Popen(watchdog)
client = redis.Redis.from_url(url)
# Idle, it waits long enough for any machine to notice; taking, a few seconds prove the point.
end = time.monotonic() + (6 if take else 30)
while time.monotonic() < end:
    time.sleep(0.3)
    if take:
        client.rpop(queue)
"""


@pytest.fixture
def redis_url(settings):
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no Redis at {settings.REDIS_URL}: start one (redis-server) or set REDIS_URL")
    return settings.REDIS_URL


def run_stand_in(url: str, take: bool) -> tuple[int, str, float]:
    queue = f"watchdog-test-{uuid.uuid4().hex}"  # its own list: nothing else is touched
    client = redis.Redis.from_url(url)
    feeder_end = time.monotonic() + 5
    proc = subprocess.Popen([sys.executable, "-c", STAND_IN, url, queue,
                             "take" if take else "idle"], cwd=SERVICE,
                            stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    try:
        # Messages keep arriving, as they do while customers order.
        n = 0
        while proc.poll() is None and time.monotonic() < feeder_end:
            n += 1
            client.lpush(queue, f"message {n}")
            time.sleep(0.1)
        _, err = proc.communicate(timeout=60)
        return proc.returncode, err, time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        client.delete(queue)


def test_a_worker_that_takes_nothing_while_messages_wait_is_killed(redis_url):
    code, err, took = run_stand_in(redis_url, take=False)
    assert code == -9, f"exit {code} after {took:.1f} s: {err}"
    assert "worker stalled" in err, err


def test_a_worker_that_keeps_taking_is_left_alone_though_the_queue_never_empties(redis_url):
    code, err, _ = run_stand_in(redis_url, take=True)
    assert code == 0, f"exit {code}: {err}"
    assert "stalled" not in err, err
