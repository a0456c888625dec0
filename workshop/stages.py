"""A stage's manifest (`<stage>/stage.toml`): what it runs, on which ports, how to see it is up.

One declarative place per stage, read by `workshop up`, `workshop doctor` and the acceptance
harness, so the three can never disagree about what a stage is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from workshop import ROOT

# What `up` does when a process dies after the stage was healthy (docker compose's and systemd's
# vocabulary): "no" leaves it down, "on-failure" starts it again after a growing delay.
RESTART_POLICIES = ("no", "on-failure")


@dataclass(frozen=True)
class Process:
    name: str
    command: list[str]
    port: int
    health: str
    cwd: str = "."
    setup: list[list[str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    restart: str = "no"
    # Seconds before the first restart, doubled after each death in a row, capped at the second.
    restart_backoff: tuple[float, float] = (0.5, 30.0)


@dataclass(frozen=True)
class Stage:
    name: str
    path: Path
    title: str
    summary: str
    front_door: str
    processes: list[Process]
    urls: dict[str, str]
    logins: list[str]
    env: dict[str, str]
    services: dict[str, str]

    def process(self, name: str) -> Process:
        for proc in self.processes:
            if proc.name == name:
                return proc
        raise KeyError(f"{self.name} has no process {name!r}")


def stage_dirs() -> list[Path]:
    return sorted(p.parent for p in ROOT.glob("[0-9][0-9]-*/stage.toml"))


def names() -> list[str]:
    return [p.name for p in stage_dirs()]


def _process(path: Path, pname: str, p: dict) -> Process:
    restart = p.get("restart", "no")
    if restart not in RESTART_POLICIES:
        raise SystemExit(
            f"workshop: {path / 'stage.toml'}: processes.{pname}.restart = {restart!r}; "
            f"use one of {', '.join(map(repr, RESTART_POLICIES))}"
        )
    first, cap = p.get("restart_backoff", (0.5, 30.0))
    return Process(
        name=pname,
        command=list(p["command"]),
        port=int(p["port"]),
        health=p.get("health", "/"),
        cwd=p.get("cwd", "."),
        setup=[list(step) for step in p.get("setup", [])],
        env=dict(p.get("env", {})),
        restart=restart,
        restart_backoff=(float(first), float(cap)),
    )


def load(name: str | None = None) -> Stage:
    """Load a stage by folder name, number prefix ("00") or path; None means the latest stage."""
    dirs = stage_dirs()
    if name is not None and (Path(name) / "stage.toml").is_file():
        path = Path(name).resolve()  # any folder with a manifest, e.g. a test's own tiny stage
    elif not dirs:
        raise SystemExit("workshop: no stage has a stage.toml yet")
    elif name is None:
        path = dirs[-1]
    else:
        matches = [p for p in dirs if p.name == name or p.name.split("-", 1)[0] == name]
        if not matches:
            raise SystemExit(f"workshop: unknown stage {name!r}; stages: {', '.join(names())}")
        path = matches[0]
    data = tomllib.loads((path / "stage.toml").read_text(encoding="utf-8"))
    meta = data["stage"]
    return Stage(
        name=path.name,
        path=path,
        title=meta["title"],
        summary=meta["summary"],
        front_door=meta["front_door"],
        processes=[_process(path, n, p) for n, p in data["processes"].items()],
        urls=dict(data.get("urls", {})),
        logins=list(meta.get("logins", [])),
        env=dict(data.get("env", {})),
        services=dict(data.get("services", {})),
    )
