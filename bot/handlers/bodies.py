"""Reading JSON request bodies safely: anything malformed, nested too deep, or holding text that
is not valid Unicode (a lone surrogate from a `\\ud800` escape) is refused before it is used."""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32  # no request the bot understands nests deeper (a Telegram update: about 6)


def read_json(body: bytes) -> Any | None:
    """The parsed body, or None when it cannot be used."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python goes
        return None
    return value if _sound(value) else None


def _sound(value: Any) -> bool:
    """Nested at most MAX_DEPTH deep, and every string encodable as UTF-8 (walked without
    recursion, so a deep body cannot exhaust the stack here either)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(item, str):
            if not _encodable(item):
                return False
        elif isinstance(item, dict):
            if not all(_encodable(k) for k in item):
                return False
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
