"""python3 -m workshop <command>: run a stage, control it from another terminal, test, compare."""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import signal
import sys
import threading
import time

from workshop import MIN_PYTHON, ROOT, bootstrap

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")


def _say(text: str = "", file=None) -> None:
    # After SIGHUP the terminal is gone: printing must not stop the clean-up.
    with contextlib.suppress(OSError, ValueError):
        print(text, file=file or sys.stdout, flush=True)


def _stop_on_signals(stop: threading.Event) -> None:
    """Ctrl-C, SIGTERM, a closed terminal (SIGHUP) or Ctrl-Break: one clean stop, at any moment.

    The handler only sets an event; it never raises. So a signal during a print, during the
    start-up or during the stop itself cannot cut anything short: whoever waits sees the event.
    """

    def request_stop(signum, frame):
        stop.set()

    for name in STOP_SIGNALS:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), request_stop)


def cmd_up(args: argparse.Namespace) -> int:
    stop = threading.Event()
    _stop_on_signals(stop)  # first of all: nothing before this line can meet a Ctrl-C

    from workshop import control, stages, supervisor

    stage = stages.load(args.stage)
    earlier = control.read(stage)
    if earlier is not None and earlier.answers():
        _say(f"workshop: {stage.name} is already running (its `up` is pid "
             f"{earlier.state['pid']}); stop it with `python3 -m workshop down {stage.name}`",
             sys.stderr)
        return 1
    if earlier is not None and earlier.leftovers():
        _say(f"workshop: processes of an earlier `up` of {stage.name} are still running; "
             f"stop them with `python3 -m workshop down {stage.name}`", sys.stderr)
        return 1
    _say(f"workshop: starting {stage.name} — {stage.title}")
    # The run command is the one place DEBUG is on: tracebacks in the browser help attendees.
    env = {"DJANGO_DEBUG": "1"}
    started = time.monotonic()
    handle = None
    try:
        run = supervisor.prepare(stage, free_ports=args.free_ports, env=env)
        # The instructor's commands answer from the start: `down` can stop a slow start-up.
        with control.serving(run, stop) as handle, run.started(restart=True, cancel=stop):
            _say(f"\n{stage.name} is up in {time.monotonic() - started:.1f} s:")
            width = max(len(label) for label in run.named_urls())
            for label, url in run.named_urls().items():
                _say(f"  {label:<{width}}  {url}")
            for login in stage.logins:
                _say(f"  login: {login}")
            _say("From another terminal: python3 -m workshop ps | kill | freeze | thaw | "
                 "restart <process> | down")
            _say("Press Ctrl-C to stop.\n")
            while not stop.wait(0.5):  # a timed wait: Windows delivers Ctrl-C between waits
                pass
            _say("workshop: stopping every process")
        return 0
    except supervisor.Cancelled:
        return 0
    except supervisor.StageFailed as exc:
        _say(f"workshop: {exc}", sys.stderr)
        return 1
    finally:
        if handle is not None:
            handle.forget()
        _say("workshop: every process stopped.")
        # Done: a further Ctrl-C has nothing left to stop (and must not turn the exit status into
        # "killed by SIGINT" while the interpreter shuts down).
        for name in STOP_SIGNALS:
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)


def _fail(message: str) -> int:
    _say(f"workshop: {message}", sys.stderr)
    return 1


def _running(stage_name: str | None):
    """The running stage a command is for: the one named, or the only one that runs."""
    from workshop import control, stages

    if stage_name:
        stage = stages.load(stage_name)
        handle = control.read(stage)
        if handle is None or not handle.answers():
            raise SystemExit(f"workshop: {stage.name} is not running "
                             f"(start it with `python3 -m workshop up {stage.name}`)")
        return handle
    live = control.running_stages()
    if not live:
        raise SystemExit("workshop: no stage is running; start one with `python3 -m workshop up`")
    if len(live) > 1:
        names = ", ".join(h.stage.name for h in live)
        raise SystemExit(f"workshop: several stages are running ({names}); name one with "
                         f"--stage, e.g. --stage {live[-1].stage.name}")
    return live[0]


def cmd_control(args: argparse.Namespace) -> int:
    """kill, freeze, thaw, restart: asked of the `up` that runs the stage."""
    handle = _running(args.stage)
    body = {"process": args.process, "stay_down": getattr(args, "stay_down", False)}
    try:
        reply = handle.call("POST", f"/v1/{args.command}", body)
    except RuntimeError as exc:
        return _fail(str(exc))
    _say(f"workshop: {handle.stage.name}: {reply['message']}")
    return 0


def cmd_ps(args: argparse.Namespace) -> int:
    handle = _running(args.stage)
    try:
        reply = handle.call("GET", "/v1/ps")
    except RuntimeError as exc:
        return _fail(str(exc))
    front = reply["processes"]
    _say(f"{reply['stage']} ({reply['phase']}): run by `up` (pid {reply['pid']}); front door "
         f"http://127.0.0.1:{handle.state['ports'][handle.stage.front_door]}/")
    columns = ("process", "pid", "port", "state", "health", "restart", "restarts", "up")
    rows = [[str(row[c] if row[c] is not None else "-") for c in columns] for row in front]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    for cells in [list(columns), *rows]:
        _say("  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip())
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    """Stop a stage that `up` runs in another terminal (or what is left of a killed `up`)."""
    from workshop import control, stages, supervisor

    if args.stage:
        candidates = [h for h in [control.read(stages.load(args.stage))] if h is not None]
    else:
        candidates = control.recorded()
    live = [h for h in candidates if h.answers()]
    if not args.stage and len(live) > 1:
        names = ", ".join(h.stage.name for h in live)
        return _fail(f"several stages are running ({names}); name the one to stop")
    if live:
        handle = live[0]
        handle.call("POST", "/v1/down")
        path = control.state_path(handle.stage)
        if not supervisor.wait_for(lambda: not path.exists(), supervisor.STOP_GRACE + 30):
            return _fail(f"{handle.stage.name} did not stop within "
                         f"{supervisor.STOP_GRACE + 30:.0f} s; see its terminal")
        _say(f"workshop: {handle.stage.name} stopped")
        return 0
    for handle in candidates:  # `up` itself was killed: its children may still run
        left = handle.leftovers()
        for proc in left:
            with contextlib.suppress(Exception):
                proc.terminate()
        if left:
            import psutil

            _, alive = psutil.wait_procs(left, timeout=supervisor.STOP_GRACE)
            for proc in alive:
                with contextlib.suppress(Exception):
                    proc.kill()
            _say(f"workshop: stopped {len(left)} process(es) left by an `up` of "
                 f"{handle.stage.name} that was itself killed")
        with contextlib.suppress(OSError):
            control.state_path(handle.stage).unlink()
        if left:
            return 0
    what = args.stage or "no stage"
    return _fail(f"{what} is not running" if args.stage else f"{what} is running")


def cmd_manage(args: argparse.Namespace) -> int:
    """A Django management command with the environment `up` gives that process."""
    import subprocess

    from workshop import control, stages, supervisor

    if args.stage:
        stage = stages.load(args.stage)
    else:
        live = control.running_stages()
        stage = live[0].stage if len(live) == 1 else stages.load(None)
    try:
        proc = stage.process(args.process)
    except KeyError as exc:
        return _fail(exc.args[0])
    cwd = stage.path / proc.cwd
    if not (cwd / "manage.py").exists():
        return _fail(f"{stage.name}'s {proc.name} is not a Django project (no manage.py)")
    handle = control.read(stage)
    if handle is not None and handle.answers():
        ports = handle.state["ports"]  # it may run on free ports: talk to the processes that run
    else:
        ports = {p.name: p.port for p in stage.processes}
    env = supervisor.process_env(proc, ports, supervisor.stage_env(stage, ports))
    return subprocess.call([sys.executable, "manage.py", *args.args], cwd=cwd, env=env)


def cmd_stages(_: argparse.Namespace) -> int:
    from workshop import stages

    for name in stages.names():
        stage = stages.load(name)
        print(f"{stage.name:<20} {stage.summary}")
    return 0


def cmd_doctor(_: argparse.Namespace) -> int:
    from workshop import doctor

    return doctor.run()


def cmd_test(args: argparse.Namespace) -> int:
    import subprocess

    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", PACT_DO_NOT_TRACK="true")
    # pyenv installs that its shims don't expose still serve tox's py312/py313 envs.
    extra = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[0-9]*/bin")))
    env["PATH"] = os.pathsep.join([*extra, env.get("PATH", "")])
    tox_args = args.tox_args or parallel_tox_args(env)
    return subprocess.call([sys.executable, "-m", "tox", *tox_args], cwd=ROOT, env=env)


def parallel_tox_args(env: dict[str, str]) -> list[str]:
    """Every env, several at once: most of a stage test's time is spent waiting on its own
    processes (start-up, timeouts it provokes), so more envs than cores still finish sooner.
    Each env uses free ports, its own temporary folder and its own throwaway databases, so
    they cannot meet. WORKSHOP_TEST_JOBS=1 runs them one by one, with live output."""
    jobs = env.get("WORKSHOP_TEST_JOBS", "") or str(max(2, 2 * (os.cpu_count() or 1)))
    if jobs == "1":
        return []
    # Only a failing env's output is printed (after it ends), then each env's result and time.
    return ["run-parallel", "--parallel", jobs, "--parallel-no-spinner"]


def cmd_diff(args: argparse.Namespace) -> int:
    from workshop import diff

    try:
        if args.readme:
            print(f"updated {diff.write_readme(args.old, args.new)}")
        elif args.path:
            print(diff.unified(args.old, args.new, args.path), end="")
        else:
            print(diff.summary(args.old, args.new), end="")
    except diff.NoSuchPath as exc:
        _say(f"workshop: {exc}", sys.stderr)
        return 2
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from workshop import control, load, stages

    url = args.url
    if not url:
        stage = stages.load(args.stage)
        handle = control.read(stage)
        # A stage started with --free-ports is found where it runs, not where it usually does.
        ports = handle.state["ports"] if handle is not None and handle.answers() else {
            p.name: p.port for p in stage.processes}
        url = f"http://127.0.0.1:{ports[stage.front_door]}"
    print(f"workshop: GET {url}{args.path} as {args.customers} customers; Ctrl-C stops")
    # A shell starts a background job (`load &`) with SIGINT ignored, and Python then keeps it
    # ignored: `kill -INT` (or a test's Ctrl-C) would not stop the load. It always stops.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        load.run(url, args.path, args.customers, args.seconds)
    return 0


def cmd_exercise(args: argparse.Namespace) -> int:
    from workshop import exercise

    return exercise.main(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m workshop", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="set up on first use, then run a stage until Ctrl-C")
    up.add_argument("stage", nargs="?", help="e.g. 00-monolith or 00 (default: the latest stage)")
    up.add_argument(
        "--free-ports",
        action="store_true",
        help="pick free ports instead of the stage's usual ones",
    )
    up.set_defaults(func=cmd_up, requirements="run")

    ps = sub.add_parser("ps", help="what a running stage runs: processes, ports, health")
    ps.add_argument("stage", nargs="?", help="which one, if several run")
    ps.set_defaults(func=cmd_ps, requirements=None)
    verbs = {
        "kill": "kill a process outright, as a crash would (its restart policy then applies)",
        "freeze": "freeze a process: it keeps its port and answers nothing",
        "thaw": "let a frozen process run again",
        "restart": "stop a process (frozen, killed or running) and start it on the same port",
    }
    for verb, text in verbs.items():
        cmd = sub.add_parser(verb, help=text)
        cmd.add_argument("process", help="a process of the stage, e.g. orders (see `ps`)")
        cmd.add_argument("--stage", help="which stage, if several run")
        if verb == "kill":
            cmd.add_argument("--stay-down", action="store_true",
                             help="no automatic restart this time (`restart` brings it back)")
        cmd.set_defaults(func=cmd_control, requirements=None)
    down = sub.add_parser("down", help="stop a stage started in another terminal")
    down.add_argument("stage", nargs="?", help="which one, if several run")
    # In .venv (which `up` made): psutil finds what an `up` that was killed left running.
    down.set_defaults(func=cmd_down, requirements="run")
    manage = sub.add_parser(
        "manage", help="a Django management command in a process's environment, as `up` runs it"
    )
    manage.add_argument("--stage", help="default: the running stage, else the latest")
    manage.add_argument("process", help="e.g. orders or monolith")
    manage.add_argument("args", nargs=argparse.REMAINDER, help="e.g. release_stranded")
    manage.set_defaults(func=cmd_manage, requirements="run")

    test = sub.add_parser("test", help="run every test of every stage, as CI does (tox)")
    # Everything after `test` goes to tox untouched, e.g. `test -e lint` (see main()).
    test.set_defaults(func=cmd_test, requirements="test")
    sub.add_parser(
        "doctor", help="check this machine: Python, ports, Redis, PostgreSQL, RabbitMQ, Docker"
    ).set_defaults(func=cmd_doctor, requirements=None)
    sub.add_parser("stages", help="list the stages, one line each").set_defaults(
        func=cmd_stages, requirements=None
    )
    load = sub.add_parser(
        "load", help="steady requests to a running stage; who answered, per second"
    )
    load.add_argument("stage", nargs="?", help="whose front door (default: the latest stage)")
    load.add_argument("--path", default="/api/v1/orders/")
    load.add_argument("--customers", type=int, default=20)
    load.add_argument("--seconds", type=float, default=3600)
    load.add_argument("--url", help="base URL instead of the stage's usual front door")
    load.set_defaults(func=cmd_load, requirements=None)
    ex = sub.add_parser("exercise", help="the exercises: list, start, check, hint, solve, reset")
    ex.add_argument("action", choices=["list", "start", "check", "hint", "solve", "reset",
                                       "verify"])
    ex.add_argument("id", nargs="?", help="e.g. 01.2 or 01-strangler/02-shadow-compare")
    ex.add_argument("number", nargs="?", type=int, help="hint number (default: the next one)")
    ex.add_argument("--force", action="store_true",
                    help="start: start again from the starting files, losing your changes")
    # The run requirements plus the test runner the checks need (pytest & co).
    ex.set_defaults(func=cmd_exercise, requirements="exercise")
    diff = sub.add_parser("diff", help="what changed between two stages (the lesson)")
    diff.add_argument("old", help="e.g. 00-monolith or 00")
    diff.add_argument("new", help="e.g. 01-strangler or 01")
    diff.add_argument(
        "path", nargs="?",
        help="the full diff of one file or folder, e.g. monolith/shop/urls.py or services/orders",
    )
    diff.add_argument(
        "--readme",
        action="store_true",
        help="write the summary into the newer stage's README (maintainers)",
    )
    diff.set_defaults(func=cmd_diff, requirements=None)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = parser()
    args, extra = p.parse_known_args(argv)
    if extra and args.command != "test":
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    args.tox_args = extra
    if sys.version_info < MIN_PYTHON and args.command != "doctor":
        sys.exit(f"workshop: Python {'.'.join(map(str, MIN_PYTHON))}+ is needed, "
                 f"this is {sys.version.split()[0]} (`python3 -m workshop doctor` says more)")
    try:
        if args.requirements and not bootstrap.in_workshop_venv():
            return bootstrap.reexec_in_venv(args.requirements, argv)
        os.chdir(ROOT)
        return args.func(args)
    except KeyboardInterrupt:  # a Ctrl-C outside `up` (which handles its own): no traceback
        _say("\nworkshop: interrupted", sys.stderr)
        return 130
