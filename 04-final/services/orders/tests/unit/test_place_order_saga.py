"""The place-order saga as a pure state machine: given a state and a reply, this next state and
this command. No database, no broker (FTGO tests its sagas the same way)."""

import pytest
from orders.sagas.place_order import (
    COMMAND,
    FINAL,
    STEPS,
    Decision,
    Outcome,
    State,
    on_reply,
    on_timeout,
    start,
)

OK, NO, UNKNOWN = Outcome.OK, Outcome.NO, Outcome.UNKNOWN
S = State


def walk(*replies, state=None):
    """Apply replies (outcome, reason) from the start; returns every decision on the way."""
    decision = start() if state is None else Decision(state, COMMAND.get(state))
    seen = [decision]
    for outcome, reason in replies:
        decision = on_reply(decision.state, decision.state, outcome, reason, decision.reason)
        seen.append(decision)
    return seen


def test_it_starts_by_reserving_stock():
    assert start() == Decision(S.RESERVING, "saga.reserve_stock")


def test_the_happy_path_reserves_charges_confirms():
    path = walk((OK, ""), (OK, ""), (OK, ""))
    assert [(d.state, d.send) for d in path] == [
        (S.RESERVING, "saga.reserve_stock"), (S.CHARGING, "saga.charge_payment"),
        (S.CONFIRMING, "saga.confirm_order"), (S.CONFIRMED, None)]


def test_out_of_stock_rejects_with_nothing_to_undo():
    assert walk((NO, "out_of_stock"))[-1] == Decision(S.REJECTED, None, "out_of_stock")


def test_a_reserve_that_never_answered_is_released_by_id_then_rejected():
    path = walk((UNKNOWN, "reserving_timeout"), (OK, ""))
    assert path[1] == Decision(S.RELEASING, "saga.release_stock", "reserving_timeout")
    assert path[2] == Decision(S.REJECTED, None, "reserving_timeout")


def test_a_declined_card_releases_the_units_then_rejects():
    path = walk((OK, ""), (NO, "payment_declined"), (OK, ""))
    assert path[2] == Decision(S.RELEASING, "saga.release_stock", "payment_declined")
    assert path[3] == Decision(S.REJECTED, None, "payment_declined")


def test_a_payment_timeout_refunds_by_key_then_releases_then_rejects():
    path = walk((OK, ""), (UNKNOWN, "payment_timeout"), (OK, ""), (OK, ""))
    assert [(d.state, d.reason) for d in path[2:]] == [
        (S.REFUNDING, "payment_timeout"), (S.RELEASING, "payment_timeout"),
        (S.REJECTED, "payment_timeout")]


def test_an_expired_reservation_at_confirm_refunds_and_releases():
    path = walk((OK, ""), (OK, ""), (NO, "reservation_expired"), (OK, ""), (OK, ""))
    assert [d.state for d in path[3:]] == [S.REFUNDING, S.RELEASING, S.REJECTED]
    assert path[-1].reason == "reservation_expired"


def test_confirm_is_never_given_up_on_no_answer_means_ask_again():
    assert on_reply(S.CONFIRMING, S.CONFIRMING, UNKNOWN, "x") == \
        Decision(S.CONFIRMING, "saga.confirm_order")


@pytest.mark.parametrize("state", [S.REFUNDING, S.RELEASING])
def test_a_compensation_that_fails_is_sent_again_never_dropped(state):
    assert on_reply(state, state, UNKNOWN, "", "payment_declined") == \
        Decision(state, COMMAND[state], "payment_declined")


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("replying", list(State))
def test_a_reply_for_another_state_is_ignored(state, replying):
    if state != replying or state in FINAL:
        for outcome in Outcome:
            assert on_reply(state, replying, outcome, "r") is None


def test_every_forward_step_has_a_command_and_every_undo_one_too():
    for step in STEPS:
        assert COMMAND[step.state] == step.command
        if step.undo:
            assert COMMAND[step.undo].startswith("saga.")


@pytest.mark.parametrize("state", [s for s in State if s not in FINAL])
def test_an_overdue_step_is_sent_again_however_often_it_was(state):
    """Its message was lost or its worker died: that is no reason to give up on the order."""
    for attempts in (1, 3, 99):
        assert on_timeout(state, attempts) == Decision(state, COMMAND[state])


@pytest.mark.parametrize("state", sorted(FINAL))
def test_a_finished_saga_is_never_resent(state):
    assert on_timeout(state, 1) is None
