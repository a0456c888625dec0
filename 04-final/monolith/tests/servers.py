"""The servers a test run needs: a throwaway container when Docker answers, else the one named.

PostgreSQL (and Redis, from stage 03 on) for the tests: when a Docker daemon answers, each run
gets its own server in a container, started and removed by testcontainers; without one, the
run uses the server its environment names (DATABASE_URL, REDIS_URL) or the machine's own on
its usual port. "Docker is installed" is not the question: a client on PATH with no daemon
behind it is common (a laptop with Docker Desktop stopped, this workshop's CI box), so the
daemon is asked.

A deliberate copy: every deployable of a stage keeps this same file in its `tests/`, so that
each one's tests stand alone (from stage 04, each is an image of its own); `test_servers.py`
checks that the copies of a stage are equal.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

POSTGRES_IMAGE = "postgres:16-alpine"
REDIS_IMAGE = "redis:7-alpine"
LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def docker_answers() -> bool:
    """Does a Docker daemon answer (DOCKER_HOST, or the platform's default socket)?"""
    try:
        import docker

        return bool(docker.from_env(timeout=2).ping())
    except Exception:  # no client library, no socket, refused, timed out: no daemon for us
        return False


def server_of(url: str) -> str:
    """postgres://user@host:5432/name -> postgres://user@host:5432 (the server, no database)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@contextlib.contextmanager
def postgres_server(given: str | None = None) -> Iterator[str]:
    """A PostgreSQL server for this run, as a URL without a database name.

    A container when Docker answers (trust authentication, so a URL needs no password, like the
    local server's); else the server of `given` (a postgres:// URL), else the local one.
    """
    if docker_answers():
        from testcontainers.community.postgres import PostgresContainer

        container = PostgresContainer(POSTGRES_IMAGE, username="postgres", dbname="postgres")
        container.with_env("POSTGRES_HOST_AUTH_METHOD", "trust")
        with container:
            host, port = container.get_container_host_ip(), container.get_exposed_port(5432)
            yield f"postgres://postgres@{host}:{port}"
        return
    yield server_of(given) if given and given.startswith("postgres") else LOCAL_POSTGRES


@contextlib.contextmanager
def redis_server(given: str | None = None) -> Iterator[str]:
    """A Redis for this run, as a URL: a container when Docker answers, else `given`, else the
    local server."""
    if docker_answers():
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.wait_strategies import LogMessageWaitStrategy

        container = (DockerContainer(REDIS_IMAGE).with_exposed_ports(6379)
                     .waiting_for(LogMessageWaitStrategy("Ready to accept connections")))
        with container:
            host, port = container.get_container_host_ip(), container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
        return
    yield given or LOCAL_REDIS


def use_server(server: str, asked: str, databases: dict) -> None:
    """Point Django's default database, and DATABASE_URL (which tests and the processes they
    start read), at `server`, keeping the database name that was asked for."""
    parts = urlsplit(server)
    databases["default"].update(
        HOST=parts.hostname, PORT=parts.port, USER=parts.username, PASSWORD="")
    os.environ["DATABASE_URL"] = server + urlsplit(asked).path


@pytest.fixture(scope="session", autouse=True)
def postgres_for_this_run() -> Iterator[None]:
    """A run that asks for PostgreSQL (DATABASE_URL=postgres://...) gets a container of its own
    when Docker answers, before any connection opens. Without Docker nothing changes: the run
    uses the server it named."""
    asked = os.environ.get("DATABASE_URL", "")
    if not asked.startswith("postgres"):
        yield
        return
    with postgres_server(asked) as server:
        if server == server_of(asked):
            yield
            return
        from django.conf import settings

        use_server(server, asked, settings.DATABASES)
        try:
            yield
        finally:
            os.environ["DATABASE_URL"] = asked
