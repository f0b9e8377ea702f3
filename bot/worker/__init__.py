"""The worker: the outbox, appeal delivery, and what runs on a schedule."""
