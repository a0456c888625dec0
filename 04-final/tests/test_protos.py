"""The gRPC contract's guards: stubs match the protos, and a breaking change is caught.

Runs protos/build.py as a developer or CI would. The breaking-change tests edit a copy of the
protos the way people break contracts by accident, and expect the check to say exactly what.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

STAGE = Path(__file__).resolve().parents[1]
BUILD = STAGE / "protos" / "build.py"
INVENTORY = Path("shopapi/inventory/v1/inventory.proto")


def build(*args):
    return subprocess.run([sys.executable, str(BUILD), *args], capture_output=True, text=True)


def test_committed_stubs_equal_a_fresh_generation():
    result = build("--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stubs fresh" in result.stdout


def test_the_protos_as_committed_break_nothing():
    result = build("--breaking")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def protos(tmp_path):
    copy = tmp_path / "protos"
    shutil.copytree(STAGE / "protos", copy, ignore=shutil.ignore_patterns("*.py", "*.json"))
    return copy


def edit(protos: Path, old: str, new: str) -> None:
    path = protos / INVENTORY
    text = path.read_text()
    assert old in text, f"{old!r} not in the proto any more: update this test"
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("  int32 quantity = 2;\n}\n\nmessage ReserveRequest", "}\n\nmessage ReserveRequest",
         "shopapi.inventory.v1.Line.quantity (field 2) was removed"),
        ("  int32 quantity = 2;\n}\n\nmessage ReserveRequest",
         "  int32 quantity = 3;\n}\n\nmessage ReserveRequest",
         "shopapi.inventory.v1.Line.quantity (field 2) was removed or renumbered"),
        ("  string product_name = 2;", "  bytes product_name = 2;",
         "ReservedLine.product_name (field 2): type changed"),
        ("  rpc Release(ReleaseRequest) returns (ReleaseResponse);\n", "",
         "rpc shopapi.inventory.v1.Inventory/Release was removed"),
    ],
    ids=["removed-field", "renumbered-field", "changed-type", "removed-rpc"],
)
def test_a_breaking_change_is_caught_and_named(protos, old, new, says):
    edit(protos, old, new)
    result = build("--breaking", "--protos", str(protos))
    assert result.returncode == 1, result.stdout
    assert says in result.stdout


def test_adding_a_field_or_reserving_a_removed_number_is_allowed(protos):
    edit(protos, "  int32 quantity = 2;\n}\n\nmessage ReserveRequest",
         "  reserved 2;\n  int32 units = 3;\n}\n\nmessage ReserveRequest")
    # Removing `quantity` while reserving its number is allowed; adding `units` is too.
    result = build("--breaking", "--protos", str(protos))
    assert result.returncode == 0, result.stdout


def test_a_hand_edited_stub_is_caught(tmp_path, monkeypatch):
    stub = STAGE / "monolith" / "shopapi" / "inventory" / "v1" / "inventory_pb2.py"
    original = stub.read_text()
    try:
        stub.write_text(original + "\n# a quick fix\n")
        result = build("--check")
    finally:
        stub.write_text(original)
    assert result.returncode == 1
    assert "monolith/shopapi/inventory/v1/inventory_pb2.py: differs" in result.stdout
