"""Reading JSON request bodies safely: anything malformed, nested too deep, or holding text that
is not valid Unicode (a lone surrogate from a `\\ud800` escape) is refused before it is used."""

from __future__ import annotations

from typing import Any

import orjson

MAX_DEPTH = 32  # no request the bot understands nests deeper (a Telegram update: about 6)


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
