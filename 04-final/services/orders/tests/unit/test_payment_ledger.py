"""The event-sourced payment ledger (payments/ledger.py): its rules, its state at any version,
its snapshots, and a Hypothesis state machine: ~1,000 random operations, then the ledger
replayed from its stored events (no snapshot), loaded through snapshots, and loaded by a fresh
application on the same file all equal the live aggregate, and every past version equals the
state the live aggregate had then."""

import sqlite3

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule
from payments.ledger import PaymentLedger, ledgers


@pytest.fixture
def app(tmp_path):
    return ledgers(tmp_path / "ledger.sqlite3")


def test_charges_refunds_and_declines_follow_the_providers_rules(app):
    assert app.charge(7, "order-1", 500) and not app.charge(7, "order-1", 999)  # once per key
    assert app.refund(7, "order-1") and not app.refund(7, "order-1")
    assert app.refund(7, "order-2")          # refunded before it was charged: a tombstone
    assert not app.charge(7, "order-2", 300)  # so the late charge takes nothing
    assert app.decline(7, "order-3") and not app.charge(7, "order-1", 1)
    state = app.state_at(7)
    assert state["balance_cents"] == 0 and state["declines"] == 1
    assert state["refunds"] == {"order-1": 500, "order-2": 0}
    with pytest.raises(ValueError):
        app.charge(7, "order-4", 0)


def test_the_state_at_any_version_and_snapshots_every_fifty(app, tmp_path):
    for n in range(1, 121):
        app.charge(3, f"order-{n}", n)
    assert app.state_at(3)["version"] == 121 and app.state_at(3)["balance_cents"] == 7260
    assert app.state_at(3, version=11)["balance_cents"] == sum(range(1, 11))
    assert app.state_at(3, version=1)["charges"] == {}
    ledger_id = str(PaymentLedger.create_id(3))
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as db:
        tables = {t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        snapshots = [t for t in tables if "snapshot" in t]
        assert snapshots, tables
        versions = sorted(v for (v,) in db.execute(
            f"SELECT originator_version FROM {snapshots[0]} WHERE originator_id = ?",
            (ledger_id.replace("-", ""),)).fetchall() or db.execute(
            f"SELECT originator_version FROM {snapshots[0]}").fetchall())
    assert versions == [50, 100]
    assert app.replayed(3) == app.state_at(3)


CUSTOMERS = st.integers(1, 3)
KEYS = st.sampled_from([f"order-{n}" for n in range(1, 41)])


class LedgerMachine(RuleBasedStateMachine):
    """Random charges, refunds and declines on three customers' ledgers, each saved as it goes;
    the live aggregates are kept in memory, with the state each had at every version."""

    operations = 0

    def __init__(self):
        super().__init__()
        import tempfile

        self.dir = tempfile.TemporaryDirectory()
        self.path = f"{self.dir.name}/ledger.sqlite3"
        self.app = ledgers(self.path)
        self.live: dict[int, PaymentLedger] = {}
        self.history: dict[int, dict[int, dict]] = {}

    def run(self, customer, command, *args):
        ledger = self.live.get(customer)
        if ledger is None:
            ledger = self.live[customer] = PaymentLedger(customer)
            self.history[customer] = {1: ledger.state()}
        getattr(ledger, command)(*args)
        self.app.save(ledger)
        self.history[customer][ledger.version] = ledger.state()
        LedgerMachine.operations += 1

    @rule(customer=CUSTOMERS, key=KEYS, amount=st.integers(1, 100_000))
    def charge(self, customer, key, amount):
        self.run(customer, "charge", key, amount)

    @rule(customer=CUSTOMERS, key=KEYS)
    def refund(self, customer, key):
        self.run(customer, "refund", key)

    @rule(customer=CUSTOMERS, key=KEYS)
    def decline(self, customer, key):
        self.run(customer, "decline", key)

    def teardown(self):
        try:
            fresh = ledgers(self.path)  # no cache: what another process would load
            for customer, ledger in self.live.items():
                live = ledger.state()
                assert live["balance_cents"] == (sum(ledger.charges.values())
                                                 - sum(ledger.refunds.values()))
                assert self.app.replayed(customer) == live       # every event, no snapshot
                assert self.app.state_at(customer) == live       # through the snapshots
                assert fresh.state_at(customer) == live
                for version, then in self.history[customer].items():
                    assert fresh.state_at(customer, version=version) == then
            fresh.close()
            self.app.close()
        finally:
            self.dir.cleanup()


TestLedgerReplay = LedgerMachine.TestCase
TestLedgerReplay.settings = settings(
    max_examples=3, stateful_step_count=1000, deadline=None, derandomize=False,
    suppress_health_check=list(HealthCheck))


def test_at_least_a_thousand_operations_were_replayed():
    # Runs after TestLedgerReplay in this file (pytest keeps the file's order).
    assert LedgerMachine.operations >= 1000, LedgerMachine.operations
