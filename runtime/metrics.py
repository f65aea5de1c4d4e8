"""Prometheus metrics of every role. Base units, bounded labels.

Created on no registry: each role serves only its own families (runtime/metrics_roles.py),
so a scrape of the timer shows no processor counter stuck at zero. `_created` series are
off process-wide: one extra series per counter child that dashboards never read.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()

# Labels are closed sets: command types, refusal codes, HTTP routes, consumers.
COMMANDS = Counter(
    "piecework_commands_total", "Commands decided by the processor", ["type", "outcome"],
    registry=None,
)
REFUSALS = Counter("piecework_refusals_total", "Commands refused by the domain", ["code"],
                   registry=None)
EVENTS_WRITTEN = Counter("piecework_events_written_total", "Events appended to the log",
                         registry=None)
DEAD_LETTERS = Counter(
    "piecework_dead_letters_total", "Records sent to the dead-letter topic", ["consumer", "code"],
    registry=None,
)
TRANSACTION_SECONDS = Histogram(
    "piecework_transaction_seconds",
    "Duration of one processor transaction (decide, produce, commit)",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
    registry=None,
)
TRANSACTION_COMMANDS = Histogram(
    "piecework_transaction_commands",
    "Commands per processor transaction",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
    registry=None,
)
TRANSACTION_ABORTS = Counter(
    "piecework_transaction_aborts_total",
    "Processor transactions aborted and read again (broker errors, fencing)",
    registry=None,
)
OWNED_PARTITIONS = Gauge("piecework_processor_partitions", "Command partitions owned",
                         registry=None)
REBUILD_SECONDS = Histogram(
    "piecework_rebuild_seconds",
    "Time to rebuild a partition's aggregates from the log",
    buckets=(0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120),
    registry=None,
)
COMMAND_LATENCY = Histogram(
    "piecework_command_latency_seconds",
    "API: from sending a command to receiving its reply",
    ["type"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2, 5),
    registry=None,
)
HTTP_REQUESTS = Counter(
    "piecework_http_requests_total", "HTTP requests", ["route", "method", "status"],
    registry=None,
)
VIEW_EVENTS = Counter("piecework_view_events_total", "Events folded into the views",
                      registry=None)

# --- views, timer and consumer groups (served on each role's metrics port) ---------------
VIEW_APPLY_SECONDS = Histogram(
    "piecework_view_apply_seconds",
    "Duration of applying one batch of events to the Redis views",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
    registry=None,
)
# kind: the command the timer sent (ExpireClaim, AutoApprove, ExpireTask, IssuePayout).
TIMER_FIRED = Counter("piecework_timer_fired_total", "Commands sent by the timer", ["kind"],
                      registry=None)
# group: "processor" or "views" (Kafka group id `<topic prefix>-<group>`); summed over
# partitions. A transaction marker takes an offset, so an idle group may show up to one
# per partition.
CONSUMER_LAG = Gauge(
    "piecework_consumer_lag", "Records not yet consumed by a consumer group", ["group"],
    registry=None,
)

# --- webhooks (the webhooks role's metrics port) -------------------------------------
# outcome: delivered, http_error (an answer but not 2xx), timeout, connection_error,
# refused_target (an address the SSRF guard refuses).
WEBHOOK_DELIVERIES = Counter(
    "piecework_webhook_deliveries_total", "Webhook delivery attempts", ["outcome"],
    registry=None,
)
WEBHOOK_LATENCY = Histogram(
    "piecework_webhook_latency_seconds",
    "From an event's instant to its successful webhook delivery (retries included)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000),
    registry=None,
)
WEBHOOKS_DISABLED = Gauge(
    "piecework_webhooks_disabled", "Webhooks disabled after failing deliveries (all actors)",
    registry=None,
)

# --- every HTTP route of the API, by its template (bounded) and answer ------------------
HTTP_DURATION = Histogram(
    "piecework_http_request_duration_seconds",
    "API: from a request's arrival to its answer, by route template, method and status",
    ["route", "method", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=None,
)
