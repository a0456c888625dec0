"""Exercise 01.2: the parallel run must see every real difference, and only real ones."""

import json

from facade.shadow import Ignore, compare


def body(value) -> bytes:
    return json.dumps(value).encode()


ORDER = {
    "id": 7,
    "status": "confirmed",
    "total_cents": 2400,
    "created_at": "2026-11-25T10:00:00Z",
    "lines": [{"product_id": 3, "quantity": 2, "unit_price_cents": 1200}],
}


def test_identical_answers_agree():
    assert compare(200, body(ORDER), 200, body(ORDER), Ignore([])) == []


def test_a_different_status_is_a_mismatch():
    diffs = compare(200, body(ORDER), 500, body(ORDER), Ignore([]))
    assert diffs and "status" in diffs[0]


def test_a_different_value_is_reported_with_its_path():
    other = {**ORDER, "total_cents": 2500}
    assert compare(200, body(ORDER), 200, body(other), Ignore([])) == [
        "$.total_cents: 2400 (old) != 2500 (new)"
    ]


def test_ignored_fields_differ_by_nature_and_are_skipped():
    other = {**ORDER, "id": 99, "created_at": "2026-11-25T10:00:01Z"}
    assert compare(200, body(ORDER), 200, body(other), Ignore(["id", "created_at"])) == []


def test_a_difference_inside_a_list_is_found():
    other = json.loads(json.dumps(ORDER))
    other["lines"][0]["quantity"] = 3
    diffs = compare(200, body(ORDER), 200, body(other), Ignore([]))
    assert diffs == ["$.lines[0].quantity: 2 (old) != 3 (new)"]


def test_a_missing_field_is_a_mismatch():
    other = {k: v for k, v in ORDER.items() if k != "status"}
    diffs = compare(200, body(ORDER), 200, body(other), Ignore([]))
    assert diffs == ['$.status: "confirmed" (old) != <missing> (new)']


def test_a_string_is_not_a_number_on_the_wire():
    other = {**ORDER, "total_cents": "2400"}
    assert compare(200, body(ORDER), 200, body(other), Ignore([]))
