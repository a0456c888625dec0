"""The real monolith, as this service's tests meet it: its gRPC server in a child process.

The orders service reserves stock and checks tokens over gRPC, so its tests run against the
monolith's own server (its code, its migrations, its seed) on a free port, with a SQLite file of
its own. The tests read and poke that file directly (stock, tokens): it is the other service's
database, and these tests are the only place allowed to look inside it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

MONOLITH = Path(__file__).resolve().parents[3] / "monolith"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_grpc_serving(target: str, proc: subprocess.Popen, log: Path, timeout=120) -> None:
    """Until the server's standard health check says SERVING; fail with its log otherwise."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"gRPC server exited:\n{log.read_text()}"
            with contextlib.suppress(grpc.RpcError):
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    return
            time.sleep(0.1)
    raise AssertionError(f"gRPC server at {target} not healthy in {timeout} s:\n"
                         f"{log.read_text()}")


def stop_process(proc: subprocess.Popen) -> None:
    """Politely, then not: a test's child never outlives the test."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Monolith:
    def __init__(self, workdir: Path):
        self.db = workdir / "monolith.sqlite3"
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{self.db}",
            "DJANGO_SECRET_KEY": "tests-only-not-a-secret",
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.log = workdir / "monolith-grpc.log"
        self.proc: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=MONOLITH, env=self.env,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def prepare(self) -> None:
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("seed")

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "serve_grpc", "--port", str(self.port)],
                cwd=MONOLITH, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        wait_grpc_serving(self.target, self.proc, self.log)

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc)

    # -- looking inside the monolith's database (tests only) --
    def sql(self, query: str, *params):
        with contextlib.closing(sqlite3.connect(self.db, timeout=10)) as db, db:
            return db.execute(query, params).fetchall()

    def stock(self) -> dict[int, int]:
        return dict(self.sql("SELECT product_id, quantity FROM inventory_stock"))

    def set_stock(self, product_id: int, quantity: int) -> None:
        self.sql("UPDATE inventory_stock SET quantity = ? WHERE product_id = ?", quantity,
                 product_id)

    def product(self, slug: str) -> dict:
        (pid, name, price), = self.sql(
            "SELECT id, name, price_cents FROM catalog_product WHERE slug = ?", slug)
        return {"id": pid, "name": name, "price_cents": price}

    def user_id(self, username: str) -> int:
        (uid,), = self.sql("SELECT id FROM auth_user WHERE username = ?", username)
        return uid

    def token_for(self, username: str, key: str | None = None) -> str:
        """A DRF token for the user, as the monolith's login would give it."""
        key = key or f"{username}-token-{os.urandom(8).hex()}"[:40]
        self.sql("DELETE FROM authtoken_token WHERE user_id = ?", self.user_id(username))
        self.sql("INSERT INTO authtoken_token (key, user_id, created) VALUES (?, ?, "
                 "datetime('now'))", key, self.user_id(username))
        return key

    def reservation(self, reservation_id: str):
        rows = self.sql("SELECT status, lines FROM inventory_reservation WHERE reservation_id = ?",
                        reservation_id)
        return rows[0] if rows else None

    def expire(self, reservation_id: str) -> None:
        """As if its hold had run out: the monolith's sweeper gives it back within a second."""
        self.sql("UPDATE inventory_reservation SET expires_at = datetime('now', '-1 minute') "
                 "WHERE reservation_id = ?", reservation_id)

    def wait_released(self, reservation_id: str, timeout: float = 30) -> None:
        """Until the monolith's sweeper has given an expired reservation back."""
        deadline = time.monotonic() + timeout
        while self.reservation(reservation_id)[0] != "released":
            assert time.monotonic() < deadline, f"{reservation_id} never released"
            time.sleep(0.05)

    @contextlib.contextmanager
    def write_locked(self):
        """Hold the database's write lock: every writer in the monolith waits behind it. Returns
        once the lock is held, and keeps it until the block ends."""
        db = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            yield
        finally:
            db.execute("ROLLBACK")
            db.close()
