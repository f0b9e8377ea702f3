"""HTTP helpers the channels share: who is asking (the client's address, believing
`X-Forwarded-For` only from trusted proxies), and reading JSON request bodies safely: anything
malformed, nested too deep, or holding text that is not valid Unicode (a lone surrogate from a
`\\ud800` escape) is refused before it is used."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import web

from bot.config import Network

UNKNOWN = "unknown"
MAX_DEPTH = 32  # no request the bot understands nests deeper (a Telegram update: about 6)


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(request: web.Request, proxies: Sequence[Network]) -> str:
    """The peer's address; when the peer is one of `proxies`, the last address in
    X-Forwarded-For that is not a trusted proxy itself (the one the proxies saw)."""
    peer = request.remote or UNKNOWN
    if not _trusted(peer, proxies):
        return peer
    forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",")]
    for address in reversed([a for a in forwarded if a]):
        if not _trusted(address, proxies):
            return address if _is_address(address) else peer
    return peer


def came_by_https(request: web.Request, proxies: Sequence[Network], public_https: bool) -> bool:
    """Whether the visitor's browser used https: this connection's TLS, or, where the site's
    address is https, a trusted proxy's `X-Forwarded-Proto` (anyone else's is ignored)."""
    if request.secure:
        return True
    if not public_https or not _trusted(request.remote or UNKNOWN, proxies):
        return False
    said = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
    return said == "https"


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def read_json(body: bytes) -> Any | None:
    """The parsed body, or None when it cannot be used (orjson itself refuses invalid UTF-8,
    lone surrogates, NaN and nesting past 1,024)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return value if _shallow(value) else None


def _shallow(value: Any) -> bool:
    """Nested at most MAX_DEPTH deep (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True
