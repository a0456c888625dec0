"""Where the tests' servers come from: a container when a Docker daemon answers, else the named one.

There is no Docker daemon on the workshop's CI box, so the side with one is shown by a fake
daemon: a few lines of HTTP on a unix socket that answer Docker's version and ping, and record
what testcontainers asks next (it answers nothing else, so no container is ever started).
"""

import http.server
import json
import os
import socketserver
import threading
from pathlib import Path

import pytest

from .. import servers


class FakeDocker(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[str]

    def _answer(self, status: int, body, content_type="application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.seen.append(f"GET {self.path}")
        if self.path.endswith("/_ping"):
            return self._answer(200, "OK", "text/plain")
        if self.path == "/version":
            return self._answer(200, {"ApiVersion": "1.44", "Version": "fake"})
        return self._answer(404, {"message": "a fake daemon has nothing"})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append(f"POST {self.path}")
        return self._answer(500, {"message": "a fake daemon runs nothing"})

    def log_message(self, *args):
        pass


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    """DOCKER_HOST pointing at a daemon that answers; yields the list of what it was asked."""
    seen: list[str] = []
    handler = type("Handler", (FakeDocker,), {"seen": seen})
    socket = tmp_path / "docker.sock"
    with UnixServer(str(socket), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
        yield seen
        server.shutdown()


@pytest.fixture
def no_docker(tmp_path, monkeypatch):
    """DOCKER_HOST pointing at a socket nobody listens on: a client, and no daemon."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'docker.sock'}")


def test_with_no_daemon_the_named_or_local_servers_are_used(no_docker, monkeypatch):
    assert servers.docker_answers() is False
    with servers.postgres_server("postgres://root@db.example:5433/shop") as url:
        assert url == "postgres://root@db.example:5433"
    with servers.postgres_server(None) as url:
        assert url == servers.LOCAL_POSTGRES
    with servers.redis_server("redis://cache.example:6380/2") as url:
        assert url == "redis://cache.example:6380/2"
    with servers.redis_server(None) as url:
        assert url == servers.LOCAL_REDIS


def test_with_a_daemon_that_answers_a_container_is_asked_for(fake_docker, monkeypatch):
    from testcontainers.core.config import testcontainers_config

    # Ryuk (testcontainers' reaper container) first would hide which image comes next.
    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)
    assert servers.docker_answers() is True
    with (pytest.raises(Exception, match="postgres:16-alpine"),
          servers.postgres_server("postgres://root@127.0.0.1:5432/shop")):
        pytest.fail("the fake daemon cannot run a container: no server may be handed out")
    assert f"GET /v1.44/images/{servers.POSTGRES_IMAGE}/json" in fake_docker
    with (pytest.raises(Exception, match="redis:7-alpine"), servers.redis_server(None)):
        pytest.fail("the fake daemon cannot run a container: no server may be handed out")


def test_a_container_takes_the_place_of_the_named_server_and_keeps_the_database_name(
    monkeypatch,
):
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/workshop")
    databases = {"default": {"HOST": "127.0.0.1", "PORT": 5432, "USER": "postgres",
                             "PASSWORD": "", "NAME": "workshop"}}
    servers.use_server("postgres://postgres@localhost:49153",
                       "postgres://postgres@127.0.0.1:5432/workshop", databases)
    assert databases["default"] == {"HOST": "localhost", "PORT": 49153, "USER": "postgres",
                                    "PASSWORD": "", "NAME": "workshop"}
    assert os.environ["DATABASE_URL"] == "postgres://postgres@localhost:49153/workshop"


def test_every_deployable_of_the_stage_keeps_the_same_copy_of_servers_py():
    here = Path(servers.__file__).resolve()
    stage = next(p for p in here.parents if (p / "stage.toml").exists())
    copies = [p for p in stage.glob("**/tests/servers.py") if ".tox" not in p.parts]
    assert here in copies
    different = [str(p.relative_to(stage)) for p in copies
                 if p.read_bytes() != here.read_bytes()]
    assert not different, f"{different} differ from {here.relative_to(stage)}: copy it over"


