"""Files this service shares with the stage's monolith by copy, not by import: kept equal.

Both processes place orders in one database in this stage, so they must keep the same contract
(error shapes, Idempotency-Key, deadline budget) byte for byte. Change both, or neither.
"""

from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[2]
MONOLITH = SERVICE.parent.parent / "monolith"

COPIES = [
    ("orders_service/api_contract.py", "shop/api_contract.py"),
    ("orders_service/api_schema.py", "shop/api_schema.py"),
    ("orders/api.py", "orders/api.py"),
    ("orders/idempotency.py", "orders/idempotency.py"),
    ("orders/budget.py", "orders/budget.py"),
    ("orders/migrations/0002_idempotencykey.py", "orders/migrations/0002_idempotencykey.py"),
]


@pytest.mark.parametrize(("ours", "theirs"), COPIES, ids=[c[0] for c in COPIES])
def test_the_copy_equals_the_monoliths(ours, theirs):
    assert (SERVICE / ours).read_bytes() == (MONOLITH / theirs).read_bytes(), (
        f"{ours} differs from monolith/{theirs}: change both the same way")
