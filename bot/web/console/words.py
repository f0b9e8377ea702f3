"""Words the records store (history events, who acted, order statuses) in the viewer's
language; a word this version does not know (a newer one's, say) shows as it was stored."""

from __future__ import annotations

from bot import i18n
from bot.services.pledges import Event

# Notes versions before 2026-12-03 wrote beside an event that its word already says.
_SAID_BY_THE_EVENT = frozenset(
    {"the certificate waits", "the name given", "retention", "time for another photo"}
)


def actor(stored: str, locale: str) -> str:
    """Who acted (`citizen`, `console:alice`, `payment:4200…`) in words: 市民, 控制台 alice."""
    kind, _, name = stored.partition(":")
    return f"{i18n.word('actor', kind, locale)} {name}".strip()


def event(e: Event, locale: str) -> dict[str, str]:
    """A history line's parts in words."""
    return {
        "what": i18n.word("history", e.what, locale),
        "by": actor(e.by, locale),
        "note": _note(e, locale),
    }


def _note(e: Event, locale: str) -> str:
    if e.note in _SAID_BY_THE_EVENT:
        return ""
    return i18n.word("flag", e.note, locale) if e.what == "flagged" else e.note
