"""Settings for bench/grpc_vs_rest.py only: the shop's settings, plus the inventory's REST door
for reserving (inventory/bench_api.py), which the public API must not have."""

from shop.settings import *  # noqa: F403

ROOT_URLCONF = "shop.urls_bench"
