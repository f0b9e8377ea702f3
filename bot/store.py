"""Every Redis key, TTL and atomic operation of the bot. Nothing else talks to Redis.

Keys share one prefix; keys that one script touches share a hash tag, so the same code runs on
Redis Cluster: `tp:{u:telegram:42}:session`, `tp:{u:telegram:42}:lock`, ...
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.errors import BusyError, StoreError

SESSION_TTL = 30 * 24 * 3600  # conversation state and language choice of an idle user
REPLY_TTL = 120  # a rendered reply, for a platform's retries of the same message
KNOWN_TTL = 30 * 24 * 3600  # "we have seen this user": profile look-ups happen once a month
SEEN_TTL = 48 * 3600  # platforms retry for up to a day; a mark outlives that
LOCK_TTL_MS = 15_000  # a crashed turn frees its user after this
LOCK_WAIT_S = 8.0  # how long a second turn of the same user waits for the first
LOCK_POLL_S = 0.005
MAX_CONNECTIONS = 64

T = TypeVar("T")

# Both turn scripts are safe to run twice (the client retries a command whose reply was lost).
# KEYS: lock, session, notes, [seen]. ARGV: token, lock ms.
# Returns {status, session or false, notes...}: messages left for the user meanwhile.
_BEGIN = """
if KEYS[4] and redis.call('EXISTS', KEYS[4]) == 1 then return {'dup', false} end
if redis.call('GET', KEYS[1]) ~= ARGV[1]
   and not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {'busy', false}
end
local answer = {'ok', redis.call('GET', KEYS[2])}
for _, note in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do table.insert(answer, note) end
return answer
"""

# KEYS: lock, session, notes, [seen]. ARGV: token, session json, session ttl, seen ttl,
# notes shown (dropped now that they reached the user). 1 if saved.
_END = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.call('GET', KEYS[2]) == ARGV[2] and 1 or 0
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
if tonumber(ARGV[5]) > 0 then redis.call('LTRIM', KEYS[3], ARGV[5], -1) end
if KEYS[4] then redis.call('SET', KEYS[4], '1', 'EX', ARGV[4]) end
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: lock. ARGV: token. Frees the lock only if this turn still holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class Lease:
    """A held per-user turn lock and the session loaded under it."""

    user_key: str
    message_id: str | None
    token: str
    session: str | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredPledge:
    """A pledge as stored: its owner and its JSON record."""

    user_key: str
    pledge_id: str
    record: str


def connect(url: str, cluster: bool = False) -> redis.Redis:
    """A client with a bounded pool that retries briefly when Redis restarts or blips."""
    retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=8)
    errors: list[type[Exception]] = [RedisConnectionError, RedisTimeoutError, ConnectionError]
    if cluster:
        client = RedisCluster.from_url(
            url, decode_responses=True, retry=retry, max_connections=MAX_CONNECTIONS
        )
        return cast(redis.Redis, client)
    pool = redis.BlockingConnectionPool.from_url(
        url,
        decode_responses=True,
        max_connections=MAX_CONNECTIONS,
        timeout=10,
        retry=retry,
        retry_on_error=errors,
        health_check_interval=30,
    )
    return redis.Redis.from_pool(pool)  # the client owns the pool and closes it


class Store:
    """Typed operations over Redis; `prefix` separates deployments and test runs."""

    def __init__(self, client: redis.Redis, prefix: str = "tp:") -> None:
        self.redis = client
        self.prefix = prefix
        self._begin = client.register_script(_BEGIN)
        self._end = client.register_script(_END)
        self._release = client.register_script(_RELEASE)

    # -- keys ---------------------------------------------------------------------------------

    def user_field(self, user_key: str, name: str) -> str:
        """The key of one thing kept about a user, under the user's hash tag."""
        tag = user_key.replace("{", "(").replace("}", ")")
        return f"{self.prefix}{{u:{tag}}}:{name}"

    def _turn_keys(self, user_key: str, message_id: str | None) -> list[str]:
        keys = [self.user_field(user_key, n) for n in ("lock", "session", "notes")]
        if message_id is not None:
            keys.append(self.user_field(user_key, f"seen:{message_id}"))
        return keys

    def _cert(self, serial: str) -> str:
        return f"{self.prefix}cert:{serial}"  # no TTL: public verification lasts

    def _stats(self, day: str) -> str:
        return f"{self.prefix}stats:{day}"  # no TTL: one small hash a day, the admin's record

    # -- turns --------------------------------------------------------------------------------

    async def begin_turn(self, user_key: str, message_id: str | None) -> Lease | None:
        """Lock the user, check the message id, load the session: one round trip when free.
        Returns None for a message seen before; waits while another turn holds the lock."""
        token = secrets.token_hex(8)
        keys = self._turn_keys(user_key, message_id)
        deadline = asyncio.get_running_loop().time() + LOCK_WAIT_S
        while True:
            args: list[str | int] = [token, LOCK_TTL_MS]
            status, session, *notes = await self.call(self._begin(keys=keys, args=args))
            if status == "dup":
                return None
            if status == "ok":
                return Lease(user_key, message_id, token, session or None, tuple(notes))
            if asyncio.get_running_loop().time() > deadline:
                raise BusyError(f"turn lock of a user held over {LOCK_WAIT_S}s")
            await asyncio.sleep(LOCK_POLL_S)

    async def end_turn(self, lease: Lease, session: str) -> bool:
        """Save the session, mark the message seen and unlock, in one round trip.
        False when the lock had expired (the turn took too long) and nothing was saved."""
        keys = self._turn_keys(lease.user_key, lease.message_id)
        args: list[str | int] = [lease.token, session, SESSION_TTL, SEEN_TTL, len(lease.notes)]
        return bool(await self.call(self._end(keys=keys, args=args)))

    async def release(self, lease: Lease) -> None:
        """Unlock without saving (the turn failed); the message stays unseen so a retry runs."""
        await self.call(
            self._release(keys=[self.user_field(lease.user_key, "lock")], args=[lease.token])
        )

    async def count_hit(self, user_key: str, window_s: int) -> int:
        """Count one more request of a user in the current window (for flood limits)."""
        key = self.user_field(user_key, "rate")  # TTL: the window
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, window_s, nx=True)
        hits, _ = await self.call(pipe.execute())
        return int(hits)

    # -- pledges ------------------------------------------------------------------------------

    async def record_pledge(
        self,
        base: str,
        user_key: str,
        pledge_id: str,
        record: str,
        serial: str | None,
        counters: Mapping[str, int],
        day: str,
    ) -> bool:
        """Store a pledge once (idempotent by id), index its certificate and count it for the
        day's statistics. False when this pledge id was recorded before (nothing changes)."""
        created = await self.call(
            self.redis.hsetnx(self.user_field(user_key, "pledges"), pledge_id, record)
        )
        if not created:
            return False
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(f"{self.prefix}pledgers:{base}", user_key)  # no TTL: audiences by base
        if serial is not None:
            pipe.set(self._cert(serial), f"{user_key}\n{pledge_id}")
        for field, amount in counters.items():
            pipe.hincrby(self._stats(day), field, amount)
        await self.call(pipe.execute())
        return True

    async def session_locale(self, user_key: str) -> str | None:
        """The language a user's conversation is in (for messages sent outside it)."""
        return self.locale_in(
            await self.call(self.redis.get(self.user_field(user_key, "session")))
        )

    @staticmethod
    def locale_in(session: str | None) -> str | None:
        """The language inside a stored session, if any."""
        try:
            locale = json.loads(session).get("locale") if session else None
        except (ValueError, AttributeError):
            return None
        return str(locale) if locale else None

    def _active(self) -> str:
        return f"{self.prefix}wechat:active"  # no TTL: one score per follower, rewritten

    async def mark_active(self, openid: str, now: int) -> bool:
        """A WeChat user wrote: customer-service messages reach them for 48 hours. True the
        first time this follower is seen (within KNOWN_TTL), in the same round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self._active(), {openid: now})
        pipe.set(self.user_field(f"wechat:{openid}", "known"), "1", nx=True, ex=KNOWN_TTL)
        _, first = await self.call(pipe.execute())
        return bool(first)

    async def active_since(self, openids: list[str], since: int) -> list[bool]:
        """Whether each WeChat user wrote after `since`."""
        scores = await self.call(self.redis.zmscore(self._active(), openids))
        return [score is not None and score >= since for score in scores]

    async def user_pledges(self, user_key: str) -> dict[str, str]:
        """All pledge records of a user, by pledge id."""
        return cast(
            dict[str, str],
            await self.call(self.redis.hgetall(self.user_field(user_key, "pledges"))),
        )

    async def pledge_by_serial(self, serial: str) -> StoredPledge | None:
        """The pledge a certificate serial belongs to, or None."""
        owner = await self.call(self.redis.get(self._cert(serial)))
        if not owner:
            return None
        user_key, pledge_id = owner.split("\n", 1)
        record = await self.call(self.redis.hget(self.user_field(user_key, "pledges"), pledge_id))
        return StoredPledge(user_key, pledge_id, record) if record else None

    async def day_stats(self, day: str) -> dict[str, int]:
        """The counters of one day (YYYY-MM-DD): pledges per base and form, trees, yuan."""
        raw = await self.call(self.redis.hgetall(self._stats(day)))
        return {k: int(v) for k, v in raw.items()}

    async def forget_user(self, user_key: str, serials: list[str], bases: list[str]) -> None:
        """Delete what is kept about a user: conversation, pledges, certificate indexes,
        bookings list, waiting notes, subscription and audience memberships. (Slots keep their
        anonymous counts; a booked place stays taken until the user cancels it.)"""
        names = ("session", "pledges", "bookings", "notes", "known")
        channel, user_id = user_key.split(":", 1)
        pipe = self.redis.pipeline(transaction=False)
        pipe.srem(self._subscribers(user_key), user_key)
        pipe.srem(f"{self.prefix}unreachable:{channel}", user_key)
        if channel == "wechat":
            pipe.zrem(self._active(), user_id)
        for base in bases:
            pipe.srem(f"{self.prefix}pledgers:{base}", user_key)
        for key in [self.user_field(user_key, n) for n in names] + [
            self._cert(s) for s in serials
        ]:
            pipe.delete(key)
        await self.call(pipe.execute())

    # -- replies and first contact ------------------------------------------------------------

    async def cache_reply(self, user_key: str, message_id: str, reply: str) -> None:
        """Keep the reply to a message briefly, for the platform's retries of it."""
        key = self.user_field(user_key, f"reply:{message_id}")
        await self.call(self.redis.set(key, reply, ex=REPLY_TTL))

    async def cached_reply(self, user_key: str, message_id: str) -> str | None:
        """The reply given to this message, if it is still kept."""
        value = await self.call(self.redis.get(self.user_field(user_key, f"reply:{message_id}")))
        return str(value) if value is not None else None

    # -- subscribers --------------------------------------------------------------------------

    def _subscribers(self, user_key: str) -> str:
        channel = user_key.split(":", 1)[0]
        return f"{self.prefix}subscribers:{channel}"  # no TTL: who may receive appeals

    async def subscribe(self, user_key: str) -> None:
        """The user wants appeals (started the bot, followed the account)."""
        await self.call(self.redis.sadd(self._subscribers(user_key), user_key))

    async def unsubscribe(self, user_key: str) -> None:
        """The user left, blocked the bot or cannot be reached."""
        await self.call(self.redis.srem(self._subscribers(user_key), user_key))

    async def mark_unreachable(self, user_key: str) -> None:
        """The platform refuses messages to this user for now (WeChat's 48-hour window)."""
        channel = user_key.split(":", 1)[0]
        key = f"{self.prefix}unreachable:{channel}"  # no TTL: cleared when the user writes
        await self.call(self.redis.sadd(key, user_key))

    async def is_unreachable(self, user_key: str) -> bool:
        """Whether the platform refused the last message to this user."""
        channel = user_key.split(":", 1)[0]
        return bool(
            await self.call(self.redis.sismember(f"{self.prefix}unreachable:{channel}", user_key))
        )

    async def is_subscribed(self, user_key: str) -> bool:
        """Whether appeals go to this user."""
        return bool(await self.call(self.redis.sismember(self._subscribers(user_key), user_key)))

    # -- secrets and health -------------------------------------------------------------------

    async def shared_secret(self) -> str:
        """The generated BOT_SECRET, made once and kept (used only when none is configured)."""
        key = f"{self.prefix}secret"  # no TTL: serials signed with it must stay verifiable
        await self.call(self.redis.set(key, secrets.token_urlsafe(32), nx=True))
        return cast(str, await self.call(self.redis.get(key)))

    async def ping(self) -> bool:
        """True when Redis answers."""
        try:
            return bool(await cast(Awaitable[bool], self.redis.ping()))
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        """Close the client and its pool."""
        await self.redis.aclose()

    async def delete_prefix(self) -> None:
        """Remove every key under this store's prefix (SCAN+DEL; for tests and teardown)."""
        batch: list[str] = []
        async for key in self.redis.scan_iter(match=f"{self.prefix}*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                await self.redis.delete(*batch)
                batch.clear()
        if batch:
            await self.redis.delete(*batch)

    @staticmethod
    async def call(pending: Awaitable[T] | Any) -> Any:
        """Await a Redis command; Redis faults become StoreError."""
        try:
            return await pending
        except RedisError as exc:
            raise StoreError(f"Redis failed: {exc}") from exc
