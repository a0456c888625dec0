"""Settings for pytest: production settings (DEBUG off), plus a key that guards nothing.

The broker is the machine's Redis (REDIS_URL, default 127.0.0.1:6379) on a database number of this
run's own, flushed by the tests that use it: two runs never read each other's messages.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-not-a-secret")
if not os.environ.get("TEST_REDIS_URL"):
    base = (os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    os.environ["TEST_REDIS_URL"] = f"{base}/{1 + os.getpid() % 15}"
os.environ["REDIS_URL"] = os.environ["TEST_REDIS_URL"]

from orders_service.settings import *  # noqa: E402,F403
