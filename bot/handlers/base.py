"""What every channel adapter shares: the one catch-all around a turn."""

from __future__ import annotations

import logging

from bot import i18n
from bot.engine import Engine
from bot.errors import BusyError
from bot.model import N_, Message, Turn
from bot.privacy import user_hash

log = logging.getLogger(__name__)


async def answer(engine: Engine, turn: Turn) -> list[Message]:
    """Run a turn; on any fault log it (channel, message id, hashed user) and give the user a
    friendly error in their language instead of silence."""
    try:
        return await engine.handle(turn)
    except BusyError:
        key = N_("error.busy")
    except Exception:
        log.exception(
            "turn failed: channel=%s message=%s user=%s",
            turn.channel,
            turn.message_id,
            user_hash(turn.user_key),
        )
        key = N_("error.internal")
    return [Message(i18n.text(key, i18n.locale_for(turn.locale)))]
