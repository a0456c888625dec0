"""Copies inside the stage are deliberate, and equal: each deployable ships its own copy (stage 04
builds one image per deployable), so a fix to one must reach the other. This fails until it does.

Generated stubs (shopapi/) are copies too; protos/build.py --check guards those.
"""

from pathlib import Path

import pytest

STAGE = Path(__file__).resolve().parents[1]

COPIES = [
    # The gRPC server bootstrap (health, reflection, clean stop, background jobs) and its
    # django_call helper, served by the monolith (inventory, customers) and the orders service.
    ("monolith/rpc/server.py", "services/orders/orders/rpc/server.py"),
]


@pytest.mark.parametrize(("original", "copy"), COPIES, ids=[c for _, c in COPIES])
def test_the_deliberate_copies_are_equal(original, copy):
    first, second = (STAGE / original).read_text(), (STAGE / copy).read_text()
    assert "A DELIBERATE COPY" in first, f"{original} must say it is a deliberate copy"
    assert first == second, f"{copy} differs from {original}: change both, or neither"
