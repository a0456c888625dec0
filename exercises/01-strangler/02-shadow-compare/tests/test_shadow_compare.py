"""Exercise 01.2: the parallel run must see every real difference, and only real ones."""

import json

from facade.shadow import MAX_DIFFS, Ignore, compare


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


def test_a_body_that_is_not_json_never_agrees_with_one_that_is():
    html = b"<html><body>500 Internal Server Error</body></html>"
    assert compare(200, body(ORDER), 200, html, Ignore([])), "an HTML error page 'agreed'"
    assert compare(200, html, 200, body(ORDER), Ignore([]))


def test_bodies_that_are_not_json_agree_only_when_equal():
    assert compare(200, b"pong", 200, b"pong", Ignore([])) == []
    assert compare(200, b"pong", 200, b"ping", Ignore([]))


def test_ignored_fields_are_ignored_at_every_depth_and_by_path():
    old = {**ORDER, "lines": [{**ORDER["lines"][0], "id": 1, "created_at": "a"}]}
    new = {**ORDER, "id": 8, "lines": [{**ORDER["lines"][0], "id": 2, "created_at": "b"}]}
    assert compare(200, body(old), 200, body(new), Ignore(["id", "created_at"])) == []
    # a dotted path is ignored only there: the order's own total still counts
    other = {**new, "total_cents": 1}
    assert compare(200, body(old), 200, body(other), Ignore(["lines.id", "lines.created_at",
                                                              "id", "created_at"])) == [
        "$.total_cents: 2400 (old) != 1 (new)"]


def test_a_list_of_another_length_is_a_mismatch():
    other = json.loads(json.dumps(ORDER))
    other["lines"].append({"product_id": 4, "quantity": 1, "unit_price_cents": 900})
    diffs = compare(200, body(ORDER), 200, body(other), Ignore([]))
    assert diffs == ["$.lines: 1 items (old) != 2 items (new)"]


def test_numbers_and_booleans_of_another_type_differ_on_the_wire():
    assert compare(200, body({"n": 1}), 200, body({"n": 1.0}), Ignore([])) == [
        "$.n: 1 (old) != 1.0 (new)"]
    assert compare(200, body({"ok": True}), 200, body({"ok": 1}), Ignore([])) == [
        "$.ok: true (old) != 1 (new)"]


def test_the_differences_are_capped_for_a_log_line():
    old = {f"k{i}": i for i in range(50)}
    new = {f"k{i}": -i - 1 for i in range(50)}
    diffs = compare(500, body(old), 200, body(new), Ignore([]))
    assert len(diffs) == MAX_DIFFS + 1 and diffs[-1] == "... and more", diffs
