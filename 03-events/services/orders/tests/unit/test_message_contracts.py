"""Strict on publish, tolerant on consume: what makes adding an optional field to a message
contract a compatible change (contracts/compat.py lets it pass)."""

import pytest
from orders.events import contracts, outbox


def newer_message():
    """order.rejected as a newer producer might send it: a field the v1 schema never named."""
    message = outbox.envelope("order.rejected", 1, 7, {
        "order_id": 7, "customer_id": 1, "reason": "out_of_stock", "coupon": "WINTER"})
    message["sent_by"] = "orders 2.0"
    return message


def test_a_consumer_ignores_fields_its_contract_does_not_name():
    contracts.check(newer_message(), tolerant=True)


def test_a_producer_may_not_send_fields_its_contract_does_not_name():
    with pytest.raises(contracts.ContractError, match="Additional properties"):
        contracts.check(newer_message())


def test_a_consumer_still_holds_every_field_it_knows_to_the_contract():
    message = newer_message()
    message["payload"]["customer_id"] = "one"
    with pytest.raises(contracts.ContractError, match="payload/customer_id"):
        contracts.check(message, tolerant=True)
    del message["payload"]["reason"]
    message["payload"]["customer_id"] = 1
    with pytest.raises(contracts.ContractError, match="'reason' is a required property"):
        contracts.check(message, tolerant=True)
