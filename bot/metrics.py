"""Prometheus metrics (prometheus-client's default registry), served at GET /metrics.

Counters and histograms count as things happen, in every process (summed across `serve
--processes N`). The gauges are read from Redis when /metrics is scraped (`ops.py`), by the
process that answers: the claims queue, the outbox, the appeals, Redis's round trip."""

from prometheus_client import Counter, Gauge, Histogram

TURNS = Counter("bot_turns_total", "Turns handled, by channel and outcome", ["channel", "outcome"])
TURN_SECONDS = Histogram(
    "bot_turn_seconds",
    "Time to answer one turn, by channel",
    ["channel"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CERTIFICATES = Counter("bot_certificates_issued_total", "Certificates issued")
ERRORS = Counter("bot_errors_total", "Faults answered with an apology, by channel", ["channel"])
RATE_LIMITED = Counter("bot_rate_limited_total", "Turns refused by the flood limit", ["channel"])

ORDERS = Counter("bot_payment_orders_total", "WeChat Pay orders made, by kind", ["kind"])
NOTIFICATIONS = Counter(
    "bot_payment_notifications_total",
    "WeChat Pay notifications, by outcome (fulfilled, already, flagged, ignored, refused, "
    "unsigned, too_large, unconfigured)",
    ["outcome"],
)

CLAIMS_WAITING = Gauge(
    "bot_claims_waiting", "Claims waiting for review", multiprocess_mode="mostrecent"
)
CLAIM_OLDEST = Gauge(
    "bot_claims_oldest_wait_seconds",
    "How long the oldest waiting claim has waited (0: none waits)",
    multiprocess_mode="mostrecent",
)
OUTBOX = Gauge(
    "bot_outbox_entries",
    "Entries in the outbox waiting for a worker (notices, reminders, order checks)",
    multiprocess_mode="mostrecent",
)
SCHEDULED = Gauge(
    "bot_jobs_scheduled",
    "Jobs waiting for their time, by kind (reminders, slot ends, expiries, order checks)",
    ["kind"],
    multiprocess_mode="mostrecent",
)
APPEALS = Gauge(
    "bot_appeals", "Recent appeals by status", ["status"], multiprocess_mode="mostrecent"
)
APPEAL_RECIPIENTS_LEFT = Gauge(
    "bot_appeal_recipients_left",
    "Recipients of scheduled and sending appeals not yet handled",
    multiprocess_mode="mostrecent",
)
REDIS_SECONDS = Histogram(
    "bot_redis_ping_seconds",
    "Redis round trip (a PING at each scrape and health check)",
    buckets=(0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
