"""A stage's manifest (`<stage>/stage.toml`): what it runs, on which ports, how to see it is up.

One declarative place per stage, read by `workshop up`, `workshop doctor` and the acceptance
harness, so the three can never disagree about what a stage is.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from workshop import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10 reads manifests from .venv, which installs tomli
    import tomli as tomllib


@dataclass(frozen=True)
class Process:
    name: str
    command: list[str]
    port: int
    health: str
    cwd: str = "."
    setup: list[list[str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


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


def load(name: str | None = None) -> Stage:
    """Load a stage by folder name or number prefix ("00"); None means the latest stage."""
    dirs = stage_dirs()
    if not dirs:
        raise SystemExit("workshop: no stage has a stage.toml yet")
    if name is None:
        path = dirs[-1]
    else:
        matches = [p for p in dirs if p.name == name or p.name.split("-", 1)[0] == name]
        if not matches:
            raise SystemExit(f"workshop: unknown stage {name!r}; stages: {', '.join(names())}")
        path = matches[0]
    data = tomllib.loads((path / "stage.toml").read_text(encoding="utf-8"))
    meta = data["stage"]
    processes = [
        Process(
            name=pname,
            command=list(p["command"]),
            port=int(p["port"]),
            health=p.get("health", "/"),
            cwd=p.get("cwd", "."),
            setup=[list(step) for step in p.get("setup", [])],
            env=dict(p.get("env", {})),
        )
        for pname, p in data["processes"].items()
    ]
    return Stage(
        name=path.name,
        path=path,
        title=meta["title"],
        summary=meta["summary"],
        front_door=meta["front_door"],
        processes=processes,
        urls=dict(data.get("urls", {})),
        logins=list(meta.get("logins", [])),
        env=dict(data.get("env", {})),
        services=dict(data.get("services", {})),
    )
