"""Prometheus metrics of the web process, in a registry of its own (no module-level state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class WebMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "hookwise_deliveries",
            "Webhook deliveries by event and outcome",
            ["event", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hookwise_webhook_seconds",
            "Time to answer a webhook delivery",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
        )

        self.in_flight = Gauge(
            "hookwise_requests_in_flight", "Requests being read or answered right now", registry=self.registry
        )

        self._counted: dict[tuple[str, str], Counter] = {}

    def delivered(self, event: str, outcome: str, seconds: float) -> None:
        """Count one answered delivery (its labelled child looked up once per pair, not per request)."""
        child = self._counted.get((event, outcome))
        if child is None:
            child = self._counted[(event, outcome)] = self.deliveries.labels(event=event, outcome=outcome)
        child.inc()
        self.latency.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
