"""`workshop diff A B`: what changed between two stages, file by file.

Every stage folder has the same shape, so this diff is the lesson. Stage READMEs embed the
summary between `<!-- diff:begin -->` and `<!-- diff:end -->`; a test regenerates it, so the
README can never drift from the code.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from workshop import stages

IGNORED_PARTS = {"var", "__pycache__", ".pytest_cache", ".hypothesis", "node_modules"}


def _files(root: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not IGNORED_PARTS.intersection(rel.parts) and path.suffix != ".pyc":
            out[rel.as_posix()] = path
    return out


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return []


def compare(old: str, new: str) -> tuple[list[str], list[str], list[tuple[str, int, int]]]:
    """(added, removed, changed with +/- line counts) between two stage folders."""
    a, b = _files(stages.load(old).path), _files(stages.load(new).path)
    added = sorted(set(b) - set(a))
    removed = sorted(set(a) - set(b))
    changed = []
    for rel in sorted(set(a) & set(b)):
        # The README describes this very diff: counting its own lines would never settle.
        if rel == "README.md" or a[rel].read_bytes() == b[rel].read_bytes():
            continue
        plus = minus = 0
        for line in difflib.unified_diff(_lines(a[rel]), _lines(b[rel]), n=0):
            if line.startswith("+") and not line.startswith("+++"):
                plus += 1
            elif line.startswith("-") and not line.startswith("---"):
                minus += 1
        changed.append((rel, plus, minus))
    return added, removed, changed


def summary(old: str, new: str) -> str:
    """Markdown: new files grouped by their top folder, then each changed file with its counts."""
    added, removed, changed = compare(old, new)
    old_name, new_name = stages.load(old).name, stages.load(new).name
    out = [
        f"From `{old_name}` to `{new_name}` (`python3 -m workshop diff {old_name} {new_name}`):",
        "",
    ]
    groups: dict[str, list[str]] = {}
    for rel in added:
        top = rel.split("/", 2)
        key = "/".join(top[:2]) if len(top) > 2 and top[0] == "services" else top[0]
        groups.setdefault(key, []).append(rel)
    for key, files in groups.items():
        out.append(f"- new: `{key}`" + (f" ({len(files)} files)" if len(files) > 1 else ""))
    for rel, plus, minus in changed:
        out.append(f"- changed: `{rel}` (+{plus} −{minus})")
    for rel in removed:
        out.append(f"- removed: `{rel}`")
    if not (added or removed or changed):
        out.append("- nothing")
    return "\n".join(out) + "\n"


def unified(old: str, new: str, path: str) -> str:
    a, b = stages.load(old).path / path, stages.load(new).path / path
    return "".join(
        difflib.unified_diff(
            _lines(a) if a.exists() else [],
            _lines(b) if b.exists() else [],
            f"{stages.load(old).name}/{path}",
            f"{stages.load(new).name}/{path}",
        )
    )


BLOCK = re.compile(r"(<!-- diff:begin -->\n).*?(<!-- diff:end -->)", re.S)


def write_readme(old: str, new: str) -> Path:
    """Refresh the "what changed" block of the newer stage's README from the real diff."""
    readme = stages.load(new).path / "README.md"
    text = readme.read_text(encoding="utf-8")
    if not BLOCK.search(text):
        raise SystemExit(f"{readme} has no <!-- diff:begin --> ... <!-- diff:end --> block")
    block = summary(old, new)
    readme.write_text(BLOCK.sub(lambda m: m.group(1) + block + m.group(2), text), encoding="utf-8")
    return readme
