"""What every channel adapter shares: the one catch-all around a turn."""

from __future__ import annotations

import logging

from bot import i18n, metrics
from bot.engine import Engine
from bot.errors import BusyError
from bot.model import N_, Message, Turn
from bot.privacy import user_hash

log = logging.getLogger(__name__)


async def answer(engine: Engine, turn: Turn) -> list[Message]:
    """Run a turn; on any fault log it (channel, message id, hashed user) and give the user a
    friendly error in their language instead of silence. Counts turns and their time."""
    with metrics.TURN_SECONDS.labels(turn.channel).time():
        try:
            messages = await engine.handle(turn)
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
