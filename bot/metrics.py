"""Prometheus metrics (prometheus-client's default registry), served at GET /metrics."""

from prometheus_client import Counter, Histogram

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
