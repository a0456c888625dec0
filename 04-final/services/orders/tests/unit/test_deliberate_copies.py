"""Files this service shares with the stage's monolith by copy, not by import: kept equal.

Both serve parts of one API behind one front door, so they must keep the same contract (error
shapes, the JSON 404, the schema's error answers) byte for byte. Change both, or neither.
"""

from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[2]
MONOLITH = SERVICE.parent.parent / "monolith"

COPIES = [
    ("orders_service/api_contract.py", "shop/api_contract.py"),
    ("orders_service/api_schema.py", "shop/api_schema.py"),
]


@pytest.mark.parametrize(("ours", "theirs"), COPIES, ids=[c[0] for c in COPIES])
def test_the_copy_equals_the_monoliths(ours, theirs):
    assert (SERVICE / ours).read_bytes() == (MONOLITH / theirs).read_bytes(), (
        f"{ours} differs from monolith/{theirs}: change both the same way")
