"""Prometheus metrics behind /-/metrics.

Each app instance owns its registry (not prometheus_client's global one), so tests and tools can
build several apps in one process. Label children are cached: looking one up through
`.labels()` costs a lock and a dict build, which adds up at thousands of requests per second.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

# The *_created series double the output and say nothing useful for a workshop.
disable_created_metrics()

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # process_cpu_seconds_total: divide its increase by the request count to get the
        # facade's CPU per request, the number that decides whether it can stay in Python.
        ProcessCollector(registry=self.registry)
        # The two per-request series are plain counts kept here and turned into Prometheus
        # samples only when /-/metrics is read: a prometheus_client Counter or Histogram takes
        # a lock and a few calls per update, a visible share of the CPU a request costs.
        self.requests: dict[tuple[str, str, int], int] = {}
        self.latency: dict[str, list[float]] = {}  # upstream -> [count per bucket, +Inf, sum]
        self.registry.register(_PerRequest(self))
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
        # Stage 04, the gateway's checks (counted by hand-rolled Counters: not per request path).
        self.auth = Counter(
            "gateway_auth_total",
            "Credentials seen at the front door, by result (bearer_ok, invalid_token, "
            "insufficient_scope, not_authenticated, provider_unavailable, passed_on).",
            ["result"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "gateway_rate_limited_total", "Requests refused with 429, by route.", ["route"],
            registry=self.registry,
        )
        self.redis_errors = Counter(
            "gateway_redis_errors_total",
            "Rate-limit or revocation checks that Redis did not answer (requests let through).",
            registry=self.registry,
        )
        self.reloads = Counter(
            "facade_table_reloads_total",
            "Routing table (re)loads, by result (ok, failed).",
            ["result"],
            registry=self.registry,
        )
        # Set to the server's count by __main__: a connection leak shows here first.
        self.client_connections = Gauge(
            "facade_client_connections", "Client connections open now.", registry=self.registry
        )
        # Set from the pools as the page is rendered: a request abandoned by its client must
        # give its upstream slot back at once, not when the upstream answers.
        self.in_flight = Gauge(
            "facade_upstream_in_flight", "Requests being sent to or answered by an upstream.",
            ["upstream"], registry=self.registry,
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

    def count_request(self, route: str, upstream: str, status: int) -> None:
        key = (route, upstream, status)
        self.requests[key] = self.requests.get(key, 0) + 1

    def observe_latency(self, upstream: str, seconds: float) -> None:
        counts = self.latency.get(upstream)
        if counts is None:
            counts = self.latency[upstream] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1  # +Inf when past the last bound
        counts[-1] += seconds

    def table_loaded(self, version: int, weights: dict[str, float]) -> None:
        self.table_version.set(version)
        self.route_weight.clear()  # routes removed from the table disappear from the output
        for prefix, weight in weights.items():
            self.route_weight.labels(prefix).set(weight)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _PerRequest(Collector):
    """facade_requests_total and facade_upstream_latency_seconds, from the plain counts."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "facade_requests",
            "Client requests answered, by matched route prefix, upstream and status.",
            labels=["route", "upstream", "status"],
        )
        for (route, upstream, status), count in list(self.metrics.requests.items()):
            requests.add_metric([route, upstream, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "facade_upstream_latency_seconds",
            "Time from sending a request upstream to its answer's headers (a small answer: all "
            "of it; shadow copies too).",
            labels=["upstream"],
        )
        for upstream, counts in list(self.metrics.latency.items()):
            cumulative, buckets = 0.0, []
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), counts[:-1], strict=True):
                cumulative += count
                buckets.append((_bound(bound), cumulative))
            latency.add_metric([upstream], buckets, counts[-1])
        yield latency


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(float(value))
