"""Keeping personal data out of logs."""

import hashlib


def user_hash(user_key: str) -> str:
    """A short, stable, non-reversible tag for a user, for logs."""
    return hashlib.sha256(user_key.encode()).hexdigest()[:12]
