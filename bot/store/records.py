"""Stored records are kept for years: each carries a version, and older ones are migrated when
read, never dropped. A record newer than this code is refused rather than half-read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from functools import cache
from typing import Any, Protocol, TypeVar

import orjson

from bot.errors import StoreError

Migration = Callable[[dict[str, Any]], dict[str, Any]]


class Record(Protocol):
    """A dataclass with a version field."""

    @property
    def v(self) -> int:
        """The version the record was written in."""


R = TypeVar("R", bound=Record)


@cache
def field_names(kind: type[Any]) -> tuple[str, ...]:
    """A dataclass's field names, in order (looked up once per class)."""
    return tuple(f.name for f in fields(kind))


@cache
def field_set(kind: type[Any]) -> frozenset[str]:
    """A dataclass's field names, to ask whether a stored key is one (looked up once)."""
    return frozenset(f.name for f in fields(kind))


def stored_form(record: Any) -> str:
    """A record (a dataclass, nested ones and enums included) as compact JSON, fields in their
    order, text as UTF-8 (the form `json.dumps(asdict(...))` wrote, without its deep copy)."""
    return orjson.dumps(record).decode()


def load_record(
    kind: type[R],
    raw: Mapping[str, Any],
    version: int,
    migrations: Mapping[int, Migration] | None = None,
) -> R:
    """`raw` as a `kind`: a record without `v` is version 1; each migration lifts version n to
    n + 1; fields this version does not know are left out."""
    data = dict(raw)
    found = int(data.get("v", 1))
    if found > version:
        raise StoreError(f"a {kind.__name__} of version {found} is newer than this code")
    for step in range(found, version):
        data = (migrations or {})[step](data)
    data["v"] = version
    names = field_set(kind)
    return kind(**{k: v for k, v in data.items() if k in names})
