"""Settings for pytest: production settings (DEBUG off), plus a key that guards nothing."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-not-a-secret")

from shop.settings import *  # noqa: E402,F403
