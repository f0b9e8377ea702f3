"""A turn's two round trips (lock + dedup + load the session and consent; save + mark + unlock),
flood counts and the replies kept for a platform's retries."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from enum import IntEnum
from typing import ClassVar

from bot.errors import BusyError
from bot.model import immutable
from bot.store.base import Area, call
from bot.store.keys import LOCK_TTL_MS, REPLY_TTL, SEEN_TTL, SESSION_TTL
from bot.store.users import MERGE_CONSENT_LUA

LOCK_WAIT_S = 8.0  # how long a second turn of the same user waits for the first
LOCK_POLL_S = 0.005

# Both turn scripts are safe to run twice (the client retries a command whose reply was lost).
# KEYS: lock, session, notes, consent, [seen]. ARGV: token, lock ms.
# Returns {status, session or false, consent or false, notes...}: messages left meanwhile.
_BEGIN = """
if KEYS[5] and redis.call('EXISTS', KEYS[5]) == 1 then return {'dup', false, false} end
if redis.call('GET', KEYS[1]) ~= ARGV[1]
   and not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {'busy', false, false}
end
local answer = {'ok', redis.call('GET', KEYS[2]), redis.call('GET', KEYS[4])}
for _, note in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do table.insert(answer, note) end
return answer
"""

# KEYS: lock, session, notes, consent, [seen, [reply]]. ARGV: token, session json, session ttl,
# seen ttl, notes shown (dropped now that they reached the user), [reply, reply ttl, [consent
# changes, version, empty]]. 1 if saved; 2 if saved but the consent record is of another
# version (left as it was); 0 if the lock had expired (nothing saved).
_END = (
    MERGE_CONSENT_LUA
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.call('GET', KEYS[2]) == ARGV[2] and 1 or 0
end
local saved = 1
if ARGV[8] and not merge_consent(KEYS[4], ARGV[8], ARGV[9], ARGV[10]) then saved = 2 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
if tonumber(ARGV[5]) > 0 then redis.call('LTRIM', KEYS[3], ARGV[5], -1) end
if KEYS[5] then redis.call('SET', KEYS[5], '1', 'EX', ARGV[4]) end
if KEYS[6] then redis.call('SET', KEYS[6], ARGV[6], 'EX', ARGV[7]) end
redis.call('DEL', KEYS[1])
return saved
"""
)

# KEYS: lock. ARGV: token. Frees the lock only if this turn still holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Ended(IntEnum):
    """How a turn's save went."""

    EXPIRED = 0  # the lock had expired (the turn took too long): nothing was saved
    SAVED = 1
    CONSENT_LEFT = 2  # saved, but the consent record is of another version: merge it apart


@immutable
class Lease:
    """A held per-user turn lock, and the session and consent record loaded under it."""

    user_key: str
    message_id: str | None
    token: str
    session: str | None
    consent: str | None = None
    notes: tuple[str, ...] = ()


def _token() -> str:
    """A lock's token, telling its holder apart. It guards nothing secret (only the bot's
    processes write the lock), so Python's generator (reseeded in a forked child) draws it,
    without the system call `secrets` makes for every draw."""
    return f"{random.getrandbits(64):016x}"


class TurnStore(Area):
    """The engine's side of Redis: one user's turn at a time, each message once."""

    SCRIPTS: ClassVar[Mapping[str, str]] = {"begin": _BEGIN, "end": _END, "release": _RELEASE}

    def turn_keys(self, user_key: str, message_id: str | None) -> list[str]:
        """The keys both turn scripts touch, in their order."""
        return self.keys.turn(user_key, message_id)

    async def begin_turn(self, user_key: str, message_id: str | None) -> Lease | None:
        """Lock the user, check the message id, load the session and the consent record: one
        round trip when free.
        Returns None for a message seen before; waits while another turn holds the lock."""
        token = _token()
        keys = self.turn_keys(user_key, message_id)
        deadline = asyncio.get_running_loop().time() + LOCK_WAIT_S
        while True:
            args: list[str | int] = [token, LOCK_TTL_MS]
            status, session, consent, *notes = await self.run("begin", keys, args)
            if status == "dup":
                return None
            if status == "ok":
                return Lease(
                    user_key, message_id, token, session or None, consent or None, tuple(notes)
                )
            if asyncio.get_running_loop().time() > deadline:
                raise BusyError(f"turn lock of a user held over {LOCK_WAIT_S}s")
            await asyncio.sleep(LOCK_POLL_S)

    async def end_turn(
        self,
        lease: Lease,
        session: str | bytes,
        ttl: int = SESSION_TTL,
        consent: tuple[str, int, str] | None = None,
        reply: str = "",
    ) -> Ended:
        """Save the session (for `ttl` seconds), merge the turn's `consent` changes (changes,
        version, empty record: as UserStore.merge_consent takes them), mark the message seen,
        keep the platform's rendered `reply` to it for its retries (as `cache_reply` does) and
        unlock, in one round trip."""
        keys = self.turn_keys(lease.user_key, lease.message_id)
        if reply and lease.message_id is not None:
            keys.append(self.keys.reply(lease.user_key, lease.message_id))
        args: list[str | bytes | int] = [lease.token, session, ttl, SEEN_TTL, len(lease.notes)]
        return Ended(await self.run("end", keys, [*args, reply, REPLY_TTL, *(consent or ())]))

    async def release(self, lease: Lease) -> None:
        """Unlock without saving (the turn failed); the message stays unseen so a retry runs."""
        await self.run("release", [self.keys.lock(lease.user_key)], [lease.token])

    async def count_hits(self, user_key: str, address: str, window_s: int) -> tuple[int, int]:
        """Count one more request of a user, and of their network address, in the current
        window (for flood limits); both counts, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for key in (self.keys.rate(user_key), self.keys.address_rate(address)):
            pipe.incr(key)
            pipe.expire(key, window_s, nx=True)
        user_hits, _, address_hits, _ = await call(pipe.execute())
        return int(user_hits), int(address_hits)

    async def cache_reply(self, user_key: str, message_id: str, reply: str) -> None:
        """Keep the reply to a message briefly, for the platform's retries of it."""
        await call(self.redis.set(self.keys.reply(user_key, message_id), reply, ex=REPLY_TTL))

    async def cached_reply(self, user_key: str, message_id: str) -> str | None:
        """The reply given to this message, if it is still kept."""
        value = await call(self.redis.get(self.keys.reply(user_key, message_id)))
        return str(value) if value is not None else None
