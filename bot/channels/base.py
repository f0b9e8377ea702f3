"""What every channel adapter shares: the one catch-all around a turn, choices as a numbered
text list for channels without buttons, and long texts split to a platform's limit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from bot import i18n, metrics
from bot.engine import Engine, Keeper
from bot.errors import BusyError
from bot.logs import user_hash
from bot.model import N_, Message, Turn

log = logging.getLogger(__name__)

LIST_MARK = "{}. "  # WeChat and notes: `1. 无锡经开区金匮公园`


async def answer(engine: Engine, turn: Turn, keep: Keeper | None = None) -> list[Message]:
    """Run a turn (`keep`: as Engine.handle takes it); on any fault log it (channel, message id,
    hashed user) and give the user a friendly error in their language instead of silence.
    Counts turns and their time."""
    with metrics.TURN_SECONDS.labels(turn.channel).time():
        try:
            messages = await engine.handle(turn, keep)
        except BusyError:
            key, outcome = N_("error.busy"), "busy"
        except Exception:
            log.exception(
                "turn failed: channel=%s message=%s user=%s",
                turn.channel,
                turn.message_id,
                user_hash(turn.user_key),
            )
            metrics.ERRORS.labels(turn.channel).inc()
            key, outcome = N_("error.internal"), "error"
        else:
            metrics.TURNS.labels(turn.channel, "ok" if messages else "duplicate").inc()
            return messages
    metrics.TURNS.labels(turn.channel, outcome).inc()
    return [Message(i18n.text(key, i18n.locale_for(turn.locale)))]


def choice_lines(message: Message, mark: str = LIST_MARK) -> list[str]:
    """A message's choices as numbered lines (a typed number picks the choice beside it); for
    a question that asks for a number, the line that says what to type instead."""
    if message.typed:
        return [message.typed]
    return [f"{mark.format(i)}{b.label}" for i, b in enumerate(message.buttons, start=1)]


def numbered(messages: Sequence[Message], mark: str = LIST_MARK) -> str:
    """A turn as one text: the messages, then the last choices as a numbered list."""
    parts = [m.text for m in messages]
    asked = next((m for m in reversed(messages) if m.buttons), None)
    if asked is not None:
        parts.append("\n".join(choice_lines(asked, mark)))
    return "\n\n".join(parts)


def split_text(
    text: str,
    limit: int,
    size: Callable[[str], int] = len,
    cut: Callable[[str, int], int] = lambda line, limit: limit,
) -> list[str]:
    """The text in pieces of at most `limit` (as `size` measures it), cut between lines where
    it can be; a line too long for a piece is cut where `cut(line, limit)` says."""
    if size(text) <= limit:  # most texts: one piece, measured once
        return [text]
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        for part in _cut_line(line, limit, size, cut):
            candidate = f"{current}\n{part}" if current else part
            if size(candidate) <= limit:
                current = candidate
            else:
                pieces.append(current)
                current = part
    return [*pieces, current]


def _cut_line(
    line: str, limit: int, size: Callable[[str], int], cut: Callable[[str, int], int]
) -> list[str]:
    parts = []
    while size(line) > limit:
        at = cut(line, limit)
        parts.append(line[:at])
        line = line[at:]
    return [*parts, line]
