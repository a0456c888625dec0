"""The deadline budget: what a request may spend, counted from when it reached us."""

import time
from types import SimpleNamespace

import pytest

from orders.deadline import Deadline, DeadlineExceeded
from orders_service.wsgi import arrived


@pytest.fixture(autouse=True)
def _budget(settings):
    settings.REQUEST_BUDGET_MS, settings.COMPENSATION_MS = 8000, 1000


@pytest.mark.parametrize(("header", "seconds"), [
    (None, 8.0), ("3000", 3.0), ("999999", 8.0), ("-5", 0.0), ("soon", 8.0), ("", 8.0)])
def test_the_budget_is_the_callers_but_never_more_than_ours(header, seconds):
    start = time.monotonic()
    assert Deadline.from_budget(header, arrived=start).at == pytest.approx(start + seconds)


def test_each_step_gets_its_timeout_or_what_is_left_after_keeping_time_to_undo():
    deadline = Deadline.after(300.0)
    assert deadline.timeout(1.0) == 1.0
    assert deadline.timeout(1000.0) == pytest.approx(299.0, abs=5)  # 300 s left - 1 s kept
    assert 299.0 < deadline.timeout(1000.0, keep=0) <= 300.0
    with pytest.raises(DeadlineExceeded):
        Deadline.after(0.5).timeout(10.0)  # less than the time kept to undo
    with pytest.raises(DeadlineExceeded):
        Deadline.after(-1).check(keep=0)


def test_a_request_that_waited_in_waitress_queue_has_spent_that_time():
    channel = SimpleNamespace(last_activity=time.time() - 2.5, check_client_disconnected=None)
    channel.check_client_disconnected = lambda: False
    environ = {"waitress.client_disconnected": SimpleNamespace(__self__=channel)}
    assert time.monotonic() - arrived(environ) == pytest.approx(2.5, abs=0.2)
    assert time.monotonic() - arrived({}) == pytest.approx(0, abs=0.2)  # another server: now
