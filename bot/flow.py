"""The step API the conversations are written in.

A flow is a set of named steps. A step asks a question (a Reply with choices) and handles the
answer, returning an Outcome: Next(step), Again(hint) or End(replies). Steps send nothing and
touch Redis only through the services in Ctx. Per-flow data is a dataclass kept in the session.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from bot.model import Answer, Outcome, Reply, Turn, UserKey, immutable
from bot.services import Services
from bot.services.consent import Changes, Consent, from_record
from bot.store.records import field_names, field_set


class FlowData(Protocol):
    """What a flow keeps between steps: a dataclass with a version field."""

    v: int


D = TypeVar("D", bound=FlowData)


@immutable
class Ctx(Services):
    """What a step may use: the services, and the turn, the user's language, now, and the
    consent record as the turn began (read with the session; few steps look at it) with the
    changes made to it in this turn (written with the turn's save)."""

    turn: Turn
    locale: str
    now: datetime
    consent_record: str | None = None
    consent_changes: dict[str, str | int] = field(default_factory=dict)

    @property
    def agreed(self) -> Consent:
        """What the user has agreed to, this turn's changes included."""
        kept = from_record(self.consent_record)
        return kept.changed(self.consent_changes) if self.consent_changes else kept

    def change_consent(self, changes: Changes) -> Consent:
        """Change the user's consent record (written with the turn's save, in its round
        trip); what it is now."""
        self.consent_changes.update(changes)
        return self.agreed

    @property
    def user(self) -> UserKey:
        """Who is talking."""
        return self.turn.user_key

    @property
    def epoch(self) -> int:
        """Now, in epoch seconds (how slot times are kept)."""
        return int(self.now.timestamp())

    def local_year(self) -> int:
        """The current year in the programme's time zone."""
        return self.catalog.local(self.now).year


@functools.cache
def _version_of(kind: type[Any]) -> Any:
    """A flow data class's version (the default of its `v`)."""
    return next(f.default for f in fields(kind) if f.name == "v")


Ask = Callable[[Ctx, D], Awaitable[Reply]]
Handle = Callable[[Ctx, D, Answer], Awaitable[Outcome]]


@immutable
class Step(Generic[D]):
    """A question and what to do with its answer."""

    ask: Ask[D]
    answer: Handle[D]
    once: bool = False  # a question answered once for good (consent): back skips it


@immutable
class Flow(Generic[D]):
    """A conversation: how it begins (an Outcome, usually Next(first step)) and its steps."""

    name: str
    data: type[D]
    begin: Callable[[Ctx, D], Awaitable[Outcome]]
    steps: Mapping[str, Step[D]]

    def new_data(self, seed: Mapping[str, str] | None = None) -> D:
        """Fresh data for a new run of the flow, with `seed` filled in."""
        names = field_set(self.data)
        return self.data(**{k: v for k, v in (seed or {}).items() if k in names})

    def load_data(self, raw: Mapping[str, Any] | None) -> D:
        """Data from the session; unknown versions or shapes start afresh."""
        if not raw or raw.get("v") != self._version():
            return self.new_data()
        names = field_set(self.data)
        return self.data(**{k: v for k, v in raw.items() if k in names})

    def dump_data(self, data: D) -> dict[str, Any]:
        """Data as stored in the session (plain values: a shallow copy is enough)."""
        return {name: getattr(data, name) for name in field_names(self.data)}

    def _version(self) -> Any:
        return _version_of(self.data)


@dataclass(slots=True)
class NoData:
    """Data of flows that keep nothing between steps."""

    v: int = 1
