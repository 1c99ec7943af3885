"""Prometheus metrics of the web process, in a registry of its own (no module-level state)."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_le: Callable[[float], str] = floatToGoString  # how prometheus-client writes a bucket's bound (untyped there)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)


class _Deliveries(Collector):
    """`hookwise_deliveries_total{event, outcome}` and the `hookwise_webhook_seconds` histogram,
    counted as plain numbers and made into prometheus-client's metric families when `/metrics` is
    read. prometheus-client's own Counter and Histogram take a lock for every increment (three for
    an observation), which cost the web process about 5 us of its core per delivery under load
    (bench/README.md). Every delivery is counted on the event loop, and `/metrics` is read there
    too, so nothing needs the lock. The exposition is the one those classes give."""

    def __init__(self) -> None:
        self._created = time.time()
        self._counts: dict[tuple[str, str], int] = {}
        self._first: dict[tuple[str, str], float] = {}  # when each pair was first counted (`_created`)
        self._bounds = (*LATENCY_BUCKETS, float("inf"))
        self._in_bucket = [0] * len(self._bounds)
        self._seconds = 0.0

    def count(self, event: str, outcome: str, seconds: float) -> None:
        key = (event, outcome)
        counted = self._counts.get(key)
        if counted is None:
            self._first[key], counted = time.time(), 0
        self._counts[key] = counted + 1
        self._in_bucket[bisect_left(self._bounds, seconds)] += 1  # the first bound >= seconds
        self._seconds += seconds

    def collect(self) -> Iterator[Metric]:
        deliveries = CounterMetricFamily(
            "hookwise_deliveries", "Webhook deliveries by event and outcome", labels=["event", "outcome"]
        )
        for (event, outcome), counted in self._counts.items():
            deliveries.add_metric([event, outcome], counted, created=self._first[(event, outcome)])
        yield deliveries
        cumulative, buckets = 0, []
        for bound, counted in zip(self._bounds, self._in_bucket, strict=True):
            cumulative += counted
            buckets.append((_le(bound), float(cumulative)))
        latency = HistogramMetricFamily("hookwise_webhook_seconds", "Time to answer a webhook delivery")
        latency.add_metric([], buckets, sum_value=self._seconds)
        latency.add_sample("hookwise_webhook_seconds_created", {}, self._created)
        yield latency


class WebMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._deliveries = _Deliveries()
        self.registry.register(self._deliveries)
        self.in_flight = Gauge(
            "hookwise_requests_in_flight", "Requests being read or answered right now", registry=self.registry
        )

    def delivered(self, event: str, outcome: str, seconds: float) -> None:
        """Count one answered delivery (on the event loop)."""
        self._deliveries.count(event, outcome, seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
