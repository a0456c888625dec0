"""The supervisor behind `workshop up` and the test harnesses, on a tiny stand-in stage.

Deaths, restarts and their backoff, the instructor's controls, and the stop: every process asked
at once, and nothing (not even a Ctrl-C in the middle) can leave one running.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest

from workshop import stages, supervisor


class Stream:
    """A log sink the test can wait on: every line the stage writes, in order."""

    def __init__(self):
        self.text = ""
        self._changed = threading.Condition()

    def write(self, s):
        with self._changed:
            self.text += s
            self._changed.notify_all()

    def flush(self):
        pass

    def wait_for(self, pattern, timeout=30.0, count=1):
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(re.findall(pattern, self.text)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{pattern!r} x{count} not in the log:\n{self.text}")
                self._changed.wait(left)
        return re.findall(pattern, self.text)


def answers(run, name):
    return run.healthy(name, timeout=2)


def test_the_port_check_ignores_time_wait_like_the_servers_do_but_sees_a_listener():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    assert not supervisor.port_is_free(port), "a listening server holds the port"
    # A browser's keep-alive connection, closed by the server first: its side of the
    # connection stays in TIME_WAIT on the server's port for a minute after the server stops.
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = listener.accept()
    conn.close()
    time.sleep(0.05)
    client.close()
    listener.close()
    states = {c.status for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port}
    assert psutil.CONN_TIME_WAIT in states, states
    assert supervisor.port_is_free(port), "TIME_WAIT must not refuse a restart"
    again = socket.socket()  # and indeed a server (SO_REUSEADDR, as waitress/uvicorn/gRPC) binds
    again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    again.bind(("127.0.0.1", port))
    again.close()


def test_stopping_asks_every_process_before_waiting_for_any(fake_stage):
    """Signal all, then one grace for all: 2 slow stoppers take ~1 s together, not 1 s each."""
    path = fake_stage({'restart_backoff = [0.2, 1.0]\n\n[processes.back]':
                       'restart_backoff = [0.2, 1.0]\n[processes.front.env]\n'
                       'FAKE_SLOW_STOP = "1"\n\n[processes.back]'})
    with (path / "stage.toml").open("a") as f:
        f.write('\n[processes.back.env]\nFAKE_SLOW_STOP = "1"\n')
    stage = stages.load(str(path))
    with supervisor.running(stage, free_ports=True, log=Stream()) as run:
        procs = list(run.children.values())
    for proc in procs:
        assert proc.returncode == 0, "each one stopped by itself, politely, within the grace"
    asked = [float((path / f"{n}.term").read_text()) for n in ("front", "back")]
    done = [float((path / f"{n}.exit").read_text()) for n in ("front", "back")]
    assert max(asked) < min(done), "the second was asked only after the first had stopped"


def test_a_process_that_dies_comes_back_on_its_port_and_the_log_says_so(fake_stage):
    stage = stages.load(str(fake_stage()))
    log = Stream()
    with supervisor.running(stage, free_ports=True, log=log, restart=True) as run:
        front_pid, back = run.children["front"].pid, run.children["back"]
        back.kill()  # a crash, from outside: not through the supervisor
        log.wait_for(r"back was killed \(SIGKILL\) after [\d.]+ s; "
                     r'restart = "on-failure": starting it again in 0.2 s')
        log.wait_for(r"back is healthy again after")
        assert run.children["back"].pid != back.pid
        assert answers(run, "back"), "back on the same port"
        assert run.children["front"].pid == front_pid, "the rest of the stage never stopped"
        row = {r["process"]: r for r in run.status()}["back"]
        assert (row["state"], row["restarts"], row["health"]) == ("running", 1, "ok")


def test_restart_no_leaves_it_down_and_says_how_to_bring_it_back(fake_stage):
    path = fake_stage({'"back"]\nport = 18081\nhealth = "/healthz"\nrestart = "on-failure"':
                       '"back"]\nport = 18081\nhealth = "/healthz"\nrestart = "no"'})
    log = Stream()
    with supervisor.running(stages.load(str(path)), free_ports=True, log=log,
                            restart=True) as run:
        run.children["back"].kill()
        log.wait_for(r'back was killed .*; it stays down \(restart = "no" in stage.toml\): '
                     r"`python3 -m workshop restart back` starts it again")
        assert {r["process"]: r["state"] for r in run.status()} == {"front": "running",
                                                                    "back": "down"}
        run.restart_process("back")
        assert answers(run, "back")


def test_the_harness_default_is_no_restart_and_a_death_is_still_logged(fake_stage):
    log = Stream()
    with supervisor.running(stages.load(str(fake_stage())), free_ports=True, log=log) as run:
        run.children["back"].kill()
        log.wait_for(r"back was killed \(SIGKILL\) .*; it stays down \(restarts are off here\)")
        assert run.children["back"].poll() is not None


def test_a_process_that_keeps_dying_is_restarted_later_and_later(fake_stage, tmp_path):
    crash = tmp_path / "crash-now"
    path = fake_stage({'command = ["{python}", "serve.py", "{port}", "back"]':
                       'command = ["{python}", "serve.py", "{port}", "back"]\n'
                       f'env = {{ FAKE_CRASH_LOOP = "{crash.as_posix()}" }}',
                       "restart_backoff = [0.2, 1.0]\n\n[urls]":
                       "restart_backoff = [0.1, 0.4]\n\n[urls]"})
    log = Stream()
    with supervisor.running(stages.load(str(path)), free_ports=True, log=log,
                            restart=True) as run:
        crash.touch()  # from now on, back dies right after each start
        run.children["back"].kill()
        delays = log.wait_for(r"back .*starting it again in ([\d.]+) s", count=5, timeout=60)
        assert [float(d) for d in delays[:5]] == [0.1, 0.2, 0.4, 0.4, 0.4]
        crash.unlink()  # fixed: a restart from now on stays up
        assert supervisor.wait_for(
            lambda: {r["process"]: r for r in run.status()}["back"]["health"] == "ok", 30)
        assert answers(run, "front")


def test_freeze_thaw_and_restart_of_a_frozen_process_keep_its_port(fake_stage):
    log = Stream()
    with supervisor.running(stages.load(str(fake_stage())), free_ports=True, log=log,
                            restart=True) as run:
        port, pid = run.ports["front"], run.children["front"].pid
        run.freeze("front")
        assert psutil.Process(pid).status() == psutil.STATUS_STOPPED
        assert not answers(run, "front") and not supervisor.port_is_free(port)
        with pytest.raises(supervisor.Refused):
            run.freeze("front")
        run.thaw("front")
        assert answers(run, "front")
        run.freeze("front")
        message = run.restart_process("front")
        assert f"port {port}" in message
        assert run.children["front"].pid != pid and answers(run, "front")
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_kill_stay_down_then_restart(fake_stage):
    log = Stream()
    with supervisor.running(stages.load(str(fake_stage())), free_ports=True, log=log,
                            restart=True) as run:
        run.kill("back", stay_down=True)
        log.wait_for(r"back was killed .*it stays down \(killed with --stay-down\)")
        with pytest.raises(supervisor.Refused):
            run.kill("back")
        with pytest.raises(KeyError, match="its processes: front, back"):
            run.kill("nope")
        run.restart_process("back")
        assert answers(run, "back")
        run.kill("back")  # --stay-down was for that one death only
        log.wait_for(r"back is healthy again")


def test_a_ctrl_c_during_the_stop_cannot_cut_it_short(fake_stage):
    """The old stop raised KeyboardInterrupt in the middle and left the rest running."""
    path = fake_stage()
    with (path / "stage.toml").open("a") as f:
        f.write('\n[processes.back.env]\nFAKE_SLOW_STOP = "1"\n')
    stage = stages.load(str(path))

    def raise_interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, raise_interrupt)
    stop_pressing = threading.Event()

    def press_ctrl_c_while_stopping():
        while not (path / "back.term").exists() and not stop_pressing.is_set():
            time.sleep(0.01)
        while not stop_pressing.is_set():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.02)

    presser = threading.Thread(target=press_ctrl_c_while_stopping, daemon=True)
    procs = []
    try:
        with supervisor.running(stage, free_ports=True, log=Stream()) as run:
            procs = list(run.children.values())
            presser.start()
    except KeyboardInterrupt:
        pass  # once the stop is over the handler is the caller's again, and may fire
    finally:
        stop_pressing.set()
        presser.join()
        signal.signal(signal.SIGINT, previous)
    assert (path / "back.exit").exists(), "back finished its own clean stop"
    assert all(p.poll() is not None for p in procs)


def test_a_failed_setup_step_names_the_command_as_it_ran(fake_stage):
    path = fake_stage({"""setup = [["{python}", "-c", "print('back: set up')"]]""":
                       """setup = [["{python}", "-c", "import sys; sys.exit(4)"]]"""})
    with pytest.raises(supervisor.StageFailed) as failed, supervisor.running(
            stages.load(str(path)), free_ports=True, log=Stream()):
        pass
    message = str(failed.value)
    assert "back: setup step failed with exit code 4" in message
    assert f"{supervisor.command_line([sys.executable])} -c" in message
    assert "{python}" not in message


def test_the_old_stop_helper_still_stops_one_child():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                            start_new_session=True)
    supervisor.stop(proc, grace=0)
    assert proc.returncode is not None
