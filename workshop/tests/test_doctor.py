"""`workshop doctor` must tell the truth: each answer flips when the real server goes away."""

import os
import shutil
import subprocess
import time

import psutil
import pytest

from workshop import ROOT, doctor
from workshop.supervisor import free_port

from .conftest import in_ci


@pytest.fixture
def redis_server():
    if not shutil.which("redis-server"):
        if in_ci():
            pytest.fail("redis-server is not on PATH: CI needs it to test `workshop doctor`")
        pytest.skip("install redis-server to run this test")
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(100):
            if doctor.redis_answers(url):
                break
            time.sleep(0.05)
        yield proc, url
    finally:
        proc.kill()
        proc.wait()


def test_doctor_sees_redis_and_then_sees_it_stopped(redis_server, run_workshop):
    proc, url = redis_server
    up = run_workshop("doctor", env={"REDIS_URL": url})
    assert up.returncode == 0, up.stdout + up.stderr
    assert "[  ok] redis" in up.stdout and f"answers at {url}" in up.stdout

    proc.kill()
    proc.wait()
    down = run_workshop("doctor", env={"REDIS_URL": url})
    # Redis down is a warning with a fix, not a failure: no stage present needs it to run.
    assert down.returncode == 0, down.stdout
    assert "[warn] redis" in down.stdout and f"not reachable at {url}" in down.stdout
    assert f"fix: {doctor.FIXES['redis'][doctor.system()]}" in down.stdout


def test_doctor_knows_postgresql_when_it_runs_and_when_it_does_not(run_workshop):
    here = "postgres://127.0.0.1:5432/postgres"
    if not doctor.postgres_answers(here) and not in_ci():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 (start one to run this test)")
    assert doctor.postgres_answers(here), "CI expects PostgreSQL on 127.0.0.1:5432"
    up = run_workshop("doctor", env={"DATABASE_URL": here})
    assert "[  ok] postgresql" in up.stdout
    nowhere = f"postgres://127.0.0.1:{free_port()}/postgres"
    down = run_workshop("doctor", env={"DATABASE_URL": nowhere})
    assert "[warn] postgresql" in down.stdout and "not reachable" in down.stdout


def test_doctor_does_not_mistake_another_server_for_postgresql_or_redis(redis_server):
    _, url = redis_server
    # A Redis on the PostgreSQL URL must not count as PostgreSQL, and the other way round.
    assert not doctor.postgres_answers(url.replace("redis://", "postgres://"))


def _hold(port):
    import socket

    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        pytest.skip(f"port {port} is already taken on this machine")
    s.listen()
    return s


def test_doctor_names_what_holds_a_busy_port(run_workshop):
    """It used to say "stop whatever listens there": now it says who, and how to stop it."""
    from workshop import stages

    port = stages.load("00").process("web").port
    with _hold(port):
        result = run_workshop("doctor")
    assert "[warn] ports 00-monolith" in result.stdout and f"web:{port}" in result.stdout
    assert f"port {port} is held by {psutil.Process().name()} (pid {os.getpid()})" \
        in result.stdout, result.stdout


def test_without_psutil_the_doctor_asks_the_system_or_says_how_to_find_it(run_workshop, tmp_path):
    from workshop import stages

    (tmp_path / "psutil.py").write_text("raise ImportError('not installed here')\n")
    port = stages.load("00").process("web").port
    with _hold(port):
        result = run_workshop("doctor", env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"})
    assert f"web:{port}" in result.stdout
    if shutil.which("lsof"):
        assert f"(pid {os.getpid()})" in result.stdout, result.stdout
    else:
        assert f"lsof -nP -iTCP:{port} -sTCP:LISTEN" in result.stdout, result.stdout


def test_a_port_held_by_a_running_stage_names_workshop_down(up, fake_stage, monkeypatch):
    from workshop import stages

    path = fake_stage()
    handle = up(str(path))
    handle.ready()
    monkeypatch.setenv("WORKSHOP_RUN_DIR", handle.env["WORKSHOP_RUN_DIR"])
    stage = stages.load(str(path))
    fix = doctor._busy_ports_fix(stage, [stage.processes[0].port])
    assert fix == (f"fake is running (its `up` is pid {handle.proc.pid}): "
                   "`python3 -m workshop down fake` stops it")


@pytest.mark.parametrize(("system", "expected"), [
    ("debian", "sudo apt-get install -y postgresql && sudo service postgresql start"),
    ("macos", "brew install postgresql@16 && brew services start postgresql@16"),
    ("windows", "winget install PostgreSQL.PostgreSQL.16"),
])
def test_the_fixes_fit_the_attendees_system(monkeypatch, system, expected):
    """The PostgreSQL fix was `pg_ctlcluster` (Debian only) for everyone."""
    monkeypatch.setattr(doctor, "system", lambda: system)
    nowhere = f"127.0.0.1:{free_port()}"
    results = {c.name: c for c in doctor.checks(f"redis://{nowhere}/0", f"postgres://{nowhere}",
                                                f"amqp://{nowhere}//")}
    assert expected in results["postgresql"].fix
    assert "pg_ctlcluster" not in results["postgresql"].fix
    assert doctor.FIXES["redis"][system] in results["redis"].fix
    assert doctor.FIXES["rabbitmq"][system] in results["rabbitmq"].fix
    assert len({doctor.FIXES[s][system] for s in doctor.FIXES}) == 3


def test_doctor_knows_rabbitmq_when_it_runs_and_when_it_does_not():
    here = "amqp://guest:guest@127.0.0.1:5672//"
    if not doctor.rabbitmq_answers(here) and not in_ci():
        pytest.skip("no RabbitMQ on 127.0.0.1:5672 (start one to run this test)")
    assert doctor.rabbitmq_answers(here), "CI expects RabbitMQ on 127.0.0.1:5672"
    assert not doctor.rabbitmq_answers(f"amqp://127.0.0.1:{free_port()}//")
    assert not doctor.postgres_answers("postgres://127.0.0.1:5672"), "RabbitMQ is not PostgreSQL"


@pytest.mark.skipif(not hasattr(__import__("socket"), "AF_UNIX"), reason="unix sockets only")
def test_docker_probe_needs_a_daemon_that_answers_ping(tmp_path, monkeypatch):
    import socket
    import threading

    path = tmp_path / "docker.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    assert not doctor.docker_answers(), "no socket: no daemon"

    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()

    def answer_once():
        conn, _ = server.accept()
        with conn:
            assert conn.recv(256).startswith(b"GET /_ping")
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK")

    thread = threading.Thread(target=answer_once, daemon=True)
    thread.start()
    try:
        assert doctor.docker_answers()
    finally:
        thread.join(2)
        server.close()
