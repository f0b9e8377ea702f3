"""Values signed with BOT_SECRET, so a client can show them back but not make them: the web
visitor's cookie, links to a certificate's image. Each purpose signs with its own key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

MAC_LENGTH = 22  # base64 characters: 132 bits


def _mac(secret: str, purpose: str, value: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}\n{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:MAC_LENGTH]


def sign(secret: str, purpose: str, value: str) -> str:
    """`value` with its signature: `value.MAC`."""
    return f"{value}.{_mac(secret, purpose, value)}"


def unsign(secret: str, purpose: str, signed: str) -> str | None:
    """The value of a signed string, or None when it was not signed by us for `purpose`."""
    value, dot, mac = signed.rpartition(".")
    if not dot or len(mac) != MAC_LENGTH:
        return None
    return value if hmac.compare_digest(mac, _mac(secret, purpose, value)) else None


def sign_until(secret: str, purpose: str, value: str, expires: int) -> str:
    """A token saying `value` may be used until `expires` (epoch seconds): `EXPIRES.MAC`."""
    return f"{expires}.{_mac(secret, purpose, f'{value} {expires}')}"


def valid_until(
    secret: str, purpose: str, value: str, token: str, now: float | None = None
) -> bool:
    """Whether `token` (from sign_until) is ours for `value` and has not expired."""
    expires, dot, mac = token.partition(".")
    if not dot or not expires.isdigit() or int(expires) < (now or time.time()):
        return False
    return hmac.compare_digest(mac, _mac(secret, purpose, f"{value} {expires}"))
