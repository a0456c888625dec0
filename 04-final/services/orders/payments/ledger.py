"""The payment ledger as an event-sourced aggregate (T17), on the `eventsourcing` library 9.5.x
with its own persistence (SQLite here, `eventsourcing.postgres` the same way): not Django's ORM
and not the orders database (`eventsourcing-django` does not install with Django 5.2).

Why the payment ledger and not the stock ledger: money is where an audit trail is the
requirement, not a nicety. A customer's ledger is the sequence of what happened (opened,
charged, refunded, declined); the balance is derived from it, any past balance can be asked for
(`state_at(version)`), and nothing is ever updated in place. The payments live in the orders
service since stage 02; the stock is still the monolith's, and its tables are the inventory's
own truth that this stage does not change.

The rules are those of the fake provider (payments/provider.py), per idempotency key: a second
charge with a key does nothing; a refund before its charge leaves a tombstone, so a late charge
takes nothing; a second refund does nothing.
"""

from uuid import NAMESPACE_URL, UUID, uuid5

from django.conf import settings
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event


class PaymentLedger(Aggregate):
    """One customer's payments, as events. Every command answers whether it changed anything."""

    @staticmethod
    def create_id(customer_id: int) -> UUID:
        # One ledger per customer, found again by the customer's id alone.
        return uuid5(NAMESPACE_URL, f"workshop:payment-ledger/{customer_id}")

    @event("Opened")
    def __init__(self, customer_id: int):
        self.customer_id = customer_id
        self.balance_cents = 0
        self.charges: dict[str, int] = {}   # key -> amount charged
        self.refunds: dict[str, int] = {}   # key -> amount refunded (0: a tombstone)
        self.declines = 0

    def charge(self, key: str, amount_cents: int) -> bool:
        if amount_cents <= 0:
            raise ValueError("amount_cents must be positive")
        if key in self.charges or key in self.refunds:
            return False  # charged before, or refunded first (the tombstone): nothing taken
        self._charged(key, amount_cents)
        return True

    def refund(self, key: str) -> bool:
        if key in self.refunds:
            return False
        self._refunded(key, self.charges.get(key, 0))
        return True

    def decline(self, key: str) -> bool:
        if key in self.charges or key in self.refunds:
            return False
        self._declined(key)
        return True

    @event("Charged")
    def _charged(self, key: str, amount_cents: int) -> None:
        self.charges[key] = amount_cents
        self.balance_cents += amount_cents

    @event("Refunded")
    def _refunded(self, key: str, amount_cents: int) -> None:
        self.refunds[key] = amount_cents
        self.balance_cents -= amount_cents

    @event("Declined")
    def _declined(self, key: str) -> None:
        self.declines += 1

    def state(self) -> dict:
        """What two copies of a ledger must agree on."""
        return {"version": self.version, "customer_id": self.customer_id,
                "balance_cents": self.balance_cents, "charges": dict(self.charges),
                "refunds": dict(self.refunds), "declines": self.declines}


class PaymentLedgers(Application):
    """The ledgers' application: its event store, and a snapshot every 50 events, so loading a
    long ledger replays at most 49 events after its latest snapshot."""

    snapshotting_intervals = {PaymentLedger: 50}

    def ledger(self, customer_id: int) -> PaymentLedger:
        try:
            return self.repository.get(PaymentLedger.create_id(customer_id))
        except AggregateNotFoundError:
            return PaymentLedger(customer_id)

    def _command(self, customer_id: int, name: str, *args) -> bool:
        ledger = self.ledger(customer_id)
        changed = getattr(ledger, name)(*args)
        if changed or ledger.version == 1:
            self.save(ledger)
        return changed

    def charge(self, customer_id: int, key: str, amount_cents: int) -> bool:
        return self._command(customer_id, "charge", key, amount_cents)

    def refund(self, customer_id: int, key: str) -> bool:
        return self._command(customer_id, "refund", key)

    def decline(self, customer_id: int, key: str) -> bool:
        return self._command(customer_id, "decline", key)

    def state_at(self, customer_id: int, version: int | None = None) -> dict:
        """The ledger as it was after its `version`-th event (None: now)."""
        return self.repository.get(PaymentLedger.create_id(customer_id), version=version).state()

    def replayed(self, customer_id: int) -> dict:
        """The ledger rebuilt from every stored event, from the first, no snapshot used."""
        ledger = None
        for domain_event in self.events.get(PaymentLedger.create_id(customer_id)):
            ledger = domain_event.mutate(ledger)
        return ledger.state()


def ledgers(path: str | None = None) -> PaymentLedgers:
    """The application on its own SQLite file (PAYMENT_LEDGER_DB)."""
    return PaymentLedgers(env={
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(path or settings.PAYMENT_LEDGER_DB),
    })
