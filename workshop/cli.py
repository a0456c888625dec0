"""python3 -m workshop {up,test,doctor,stages}: the only commands an attendee needs to know."""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import signal
import sys
import time

from workshop import ROOT, bootstrap


def _stop_requested(signum, frame):
    # Ctrl-C, SIGTERM or Ctrl-Break, whenever it comes (even mid-start-up): one clean stop.
    # Later ones are ignored, so an impatient second Ctrl-C cannot cut the clean-up short.
    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    raise KeyboardInterrupt


def cmd_up(args: argparse.Namespace) -> int:
    from workshop import stages, supervisor

    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stop_requested)
    stage = stages.load(args.stage)
    print(f"workshop: starting {stage.name} — {stage.title}", flush=True)
    # The run command is the one place DEBUG is on: tracebacks in the browser help attendees.
    env = {"DJANGO_DEBUG": "1"}
    started = time.monotonic()
    try:
        with supervisor.running(stage, free_ports=args.free_ports, env=env) as run:
            print(f"\n{stage.name} is up in {time.monotonic() - started:.1f} s:", flush=True)
            width = max(len(label) for label in run.named_urls())
            for label, url in run.named_urls().items():
                print(f"  {label:<{width}}  {url}")
            for login in stage.logins:
                print(f"  login: {login}")
            print("Press Ctrl-C to stop.\n", flush=True)
            while not run.dead():
                time.sleep(0.3)
            print(f"workshop: {', '.join(run.dead())} exited; stopping the stage", flush=True)
            return 1
    except KeyboardInterrupt:
        # The supervisor has stopped every process by the time we get here.
        return 0
    except supervisor.StageFailed as exc:
        print(f"workshop: {exc}", file=sys.stderr)
        return 1
    finally:
        print("workshop: every process stopped.", flush=True)


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
    return subprocess.call([sys.executable, "-m", "tox", *args.tox_args], cwd=ROOT, env=env)


def cmd_diff(args: argparse.Namespace) -> int:
    from workshop import diff

    if args.readme:
        print(f"updated {diff.write_readme(args.old, args.new)}")
    elif args.path:
        print(diff.unified(args.old, args.new, args.path), end="")
    else:
        print(diff.summary(args.old, args.new), end="")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from workshop import load, stages

    url = args.url
    if not url:
        stage = stages.load(args.stage)
        url = f"http://127.0.0.1:{stage.process(stage.front_door).port}"
    print(f"workshop: GET {url}{args.path} as {args.customers} customers; Ctrl-C stops")
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
    test = sub.add_parser("test", help="run every test of every stage, as CI does (tox)")
    # Everything after `test` goes to tox untouched, e.g. `test -e lint` (see main()).
    test.set_defaults(func=cmd_test, requirements="test")
    sub.add_parser(
        "doctor", help="check this machine: Python, ports, Redis, PostgreSQL, Docker"
    ).set_defaults(func=cmd_doctor, requirements=None)
    sub.add_parser("stages", help="list the stages, one line each").set_defaults(
        func=cmd_stages, requirements="run" if sys.version_info < (3, 11) else None
    )
    load = sub.add_parser(
        "load", help="steady requests to a running stage; who answered, per second"
    )
    load.add_argument("stage", nargs="?", help="whose front door (default: the latest stage)")
    load.add_argument("--path", default="/api/v1/orders/")
    load.add_argument("--customers", type=int, default=20)
    load.add_argument("--seconds", type=float, default=3600)
    load.add_argument("--url", help="base URL instead of the stage's usual front door")
    load.set_defaults(func=cmd_load, requirements="run" if sys.version_info < (3, 11) else None)
    ex = sub.add_parser("exercise", help="the exercises: list, start, check, hint, solve, reset")
    ex.add_argument("action", choices=["list", "start", "check", "hint", "solve", "reset",
                                       "verify"])
    ex.add_argument("id", nargs="?", help="e.g. 01.2 or 01-strangler/02-shadow-compare")
    ex.add_argument("number", nargs="?", type=int, help="hint number (default: the next one)")
    ex.set_defaults(func=cmd_exercise, requirements="run")
    diff = sub.add_parser("diff", help="what changed between two stages (the lesson)")
    diff.add_argument("old", help="e.g. 00-monolith or 00")
    diff.add_argument("new", help="e.g. 01-strangler or 01")
    diff.add_argument(
        "path", nargs="?", help="show the full diff of one file, e.g. monolith/shop/urls.py"
    )
    diff.add_argument(
        "--readme",
        action="store_true",
        help="write the summary into the newer stage's README (maintainers)",
    )
    diff.set_defaults(func=cmd_diff, requirements="run" if sys.version_info < (3, 11) else None)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = parser()
    args, extra = p.parse_known_args(argv)
    if extra and args.command != "test":
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    args.tox_args = extra
    if args.requirements and not bootstrap.in_workshop_venv():
        return bootstrap.reexec_in_venv(args.requirements, argv)
    os.chdir(ROOT)
    return args.func(args)
