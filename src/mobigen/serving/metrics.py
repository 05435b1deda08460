"""Prometheus metrics of one edge server, on its own ``CollectorRegistry`` (so apps never collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServerMetrics:
    """The counters, gauges and histograms that ``GET /metrics`` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("mobigen_requests", "Generation requests by final HTTP outcome.", ["outcome"], registry=r)
        self.errors = Counter("mobigen_errors", "Requests answered with an error, by kind.", ["kind"], registry=r)
        self.disconnects = Counter(
            "mobigen_client_disconnects", "Clients that went away mid-request, by stage ('upload': before the body "
            "was complete; 'reply': before the whole reply was sent). Not errors of the server.", ["stage"], registry=r,
        )
        self.slot_size = Histogram(
            "mobigen_slot_size", "Users per closed slot.", buckets=(1, 2, 3, 4, 5, 6, 8, 11, 16, 32, 64), registry=r
        )
        self.decision_seconds = Histogram(
            "mobigen_decision_seconds", "Slot build + controller + guard time per slot (s).",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5), registry=r,
        )
        self.overhead_seconds = Histogram(
            "mobigen_control_overhead_seconds", "Control-plane time per request, excluding denoising and waits (s).",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5), registry=r,
        )
        self.edge_seconds = Histogram(
            "mobigen_edge_denoise_seconds", "Edge denoising time per request in the worker (s).",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30), registry=r,
        )
        self.bytes_up = Counter("mobigen_uplink_bytes", "Condition bytes received (bytes).", registry=r)
        self.bytes_down = Counter("mobigen_downlink_bytes", "Reply bytes sent, framing included (bytes).", registry=r)
        self.slots_decided = Counter(
            "mobigen_slots_decided", "Slots decided, by the controller that really ran ('exact' when a learned "
            "policy fell back).", ["ran_as"], registry=r)
        self.guard_repairs = Counter("mobigen_guard_repairs", "Users whose decision the feasibility guard changed.", registry=r)
        self.completions = Counter(
            "mobigen_completions", "How requests ended after the reply.", ["status"], registry=r
        )
        self.queue_depth = Gauge("mobigen_worker_queue_depth", "Edge jobs waiting in the worker queue.", registry=r)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


__all__ = ["METRICS_CONTENT_TYPE", "ServerMetrics"]
