"""Prometheus metrics behind /-/metrics.

Each app instance owns its registry (not prometheus_client's global one), so tests and tools can
build several apps in one process. Label children are cached: looking one up through
`.labels()` costs a lock and a dict build, which adds up at thousands of requests per second.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# The *_created series double the output and say nothing useful for a workshop.
disable_created_metrics()

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # process_cpu_seconds_total: divide its increase by the request count to get the
        # facade's CPU per request, the number that decides whether it can stay in Python.
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "facade_requests_total",
            "Client requests answered, by matched route prefix, upstream and status.",
            ["route", "upstream", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "facade_upstream_latency_seconds",
            "Time from sending a request upstream to its answer's headers (a small answer: all "
            "of it; shadow copies too).",
            ["upstream"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.shadow_comparisons = Counter(
            "facade_shadow_comparisons_total",
            "Shadow (parallel run) responses compared with the old side's, by route.",
            ["route"],
            registry=self.registry,
        )
        self.shadow_mismatches = Counter(
            "facade_shadow_mismatches_total",
            "Shadow responses that differed from the old side's, by route.",
            ["route"],
            registry=self.registry,
        )
        self.shadow_skipped = Counter(
            "facade_shadow_skipped_total",
            "Shadow comparisons not made, by route and reason (timeout, unavailable, too_large).",
            ["route", "reason"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "facade_table_reloads_total",
            "Routing table (re)loads, by result (ok, failed).",
            ["result"],
            registry=self.registry,
        )
        self.table_version = Gauge(
            "facade_table_version", "Version of the routing table in force.", registry=self.registry
        )
        self.route_weight = Gauge(
            "facade_route_weight_percent",
            "Canary weight in force per route (percent of customers sent to new).",
            ["route"],
            registry=self.registry,
        )
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._latency_children: dict[str, Any] = {}

    def count_request(self, route: str, upstream: str, status: int) -> None:
        key = (route, upstream, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.requests.labels(route, upstream, str(status))
        child.inc()

    def observe_latency(self, upstream: str, seconds: float) -> None:
        child = self._latency_children.get(upstream)
        if child is None:
            child = self._latency_children[upstream] = self.latency.labels(upstream)
        child.observe(seconds)

    def table_loaded(self, version: int, weights: dict[str, float]) -> None:
        self.table_version.set(version)
        self.route_weight.clear()  # routes removed from the table disappear from the output
        for prefix, weight in weights.items():
            self.route_weight.labels(prefix).set(weight)

    def render(self) -> bytes:
        return generate_latest(self.registry)
