"""Certificate serials: readable, and signed with BOT_SECRET so they cannot be guessed or forged.

A serial reads `WX2026-7K3M9Q2TAB-4F8A2C`: programme, year, pledge id, then a check code cut from
an HMAC-SHA256 of the rest. Crockford's base-32 alphabet leaves out I, L, O and U.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_LENGTH = 10
CHECK_LENGTH = 6
if len(ALPHABET) != 32:  # new_id and the check code take five bits a character
    raise ValueError("the serial alphabet must have 32 characters")
_SHAPE = re.compile(
    rf"^WX(\d{{4}})-([{ALPHABET}]{{{ID_LENGTH}}})-([{ALPHABET}]{{{CHECK_LENGTH}}})$"
)


def new_id(length: int = ID_LENGTH) -> str:
    """A random code in the serial alphabet (a pledge id: 50 bits): one random byte per
    character, 32 letters dividing 256 evenly, so every character is equally likely."""
    return "".join(ALPHABET[b & 31] for b in secrets.token_bytes(length))


def _check(body: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest[:8], "big")
    return "".join(ALPHABET[(number >> (5 * i)) & 31] for i in range(CHECK_LENGTH))


def issue(year: int, pledge_id: str, secret: str) -> str:
    """The serial of a pledge's certificate."""
    body = f"WX{year}-{pledge_id}"
    return f"{body}-{_check(body, secret)}"


def verify(serial: str, secret: str) -> str | None:
    """The normalised serial when its shape and check code are right, else None."""
    candidate = serial.strip().upper()
    match = _SHAPE.match(candidate)
    if match is None:
        return None
    body = candidate.rsplit("-", 1)[0]
    return candidate if hmac.compare_digest(_check(body, secret), match.group(3)) else None
