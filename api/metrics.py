"""Prometheus metrics of one API instance, served at ``/metrics``.

Each app gets its own ``CollectorRegistry`` (no process-wide globals, so
several apps in one test process do not collide). Requests are labelled by
route template (``/v1/cases/{case_id}``), never by concrete path, to keep
the label set small.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("casetrail_http_requests_total", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.duration = Histogram("casetrail_http_request_duration_seconds", "HTTP request duration",
                                  ["method", "route"], buckets=BUCKETS, registry=self.registry)
        self.in_progress = Gauge("casetrail_http_requests_in_progress", "HTTP requests being handled",
                                 registry=self.registry)
        self.position = Gauge("casetrail_notification_position",
                              "Highest notification position (the event log's head) at the last "
                              "/readyz or /metrics", registry=self.registry)
        self.projection_position = Gauge("casetrail_projection_position",
                                         "Notification position each read model has processed",
                                         ["projection"], registry=self.registry)
        self.projection_lag = Gauge("casetrail_projection_lag_events",
                                    "Events the read model is behind the log", ["projection"],
                                    registry=self.registry)
        self.projection_lag_seconds = Gauge("casetrail_projection_lag_seconds",
                                            "Age of the oldest event the read model has not processed",
                                            ["projection"], registry=self.registry)

    def observe_projections(self, entries: list[dict]) -> None:
        """Gauges from ``projections.maintenance.status`` entries."""
        for e in entries:
            self.position.set(e["head"])
            self.projection_position.labels(e["name"]).set(e["position"] or 0)
            self.projection_lag.labels(e["name"]).set(e["lag_events"])
            self.projection_lag_seconds.labels(e["name"]).set(e["lag_seconds"] or 0.0)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
