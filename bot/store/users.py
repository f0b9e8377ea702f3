"""What is kept about users outside their conversation: subscriptions, reachability, the WeChat
48-hour window, notes for their next turn, their language, and forgetting them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import ClassVar

from redis.asyncio.cluster import RedisCluster

from bot.model import UserKey
from bot.store.base import Area, call
from bot.store.keys import KNOWN_TTL, NOTE_TTL, SEEN_TTL

SCAN_BATCH = 200  # members per SSCAN: memory stays flat however large the set


def locale_in(session: str | None) -> str | None:
    """The language inside a stored session, if any."""
    try:
        locale = json.loads(session).get("locale") if session else None
    except (ValueError, AttributeError):
        return None
    return str(locale) if locale else None


# KEYS: the event's mark, the user's grants. ARGV: mark TTL, then template id and status
# pairs (accept: one send more; anything else: none left). 0 when the event was seen before.
_GRANT_EVENT = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
for i = 2, #ARGV, 2 do
  if ARGV[i + 1] == 'accept' then redis.call('HINCRBY', KEYS[2], ARGV[i], 1)
  else redis.call('HDEL', KEYS[2], ARGV[i]) end
end
return 1
"""

# KEYS: the user's grants. ARGV: template id. 1 when a send was left and is now taken.
_TAKE_GRANT = """
local left = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if left < 1 then return 0 end
if left == 1 then redis.call('HDEL', KEYS[1], ARGV[1])
else redis.call('HINCRBY', KEYS[1], ARGV[1], -1) end
return 1
"""


# KEYS: WeChat's active followers, the follower's known mark, [the reply kept for the message].
# ARGV: now, openid, the mark's TTL. {1 if the follower is new, the kept reply or nil}.
_ARRIVE = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local new = redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) and 1 or 0
return {new, KEYS[3] and redis.call('GET', KEYS[3]) or false}
"""


# merge_consent(key, changes, version, empty): apply changes (a JSON object) to the consent
# record at key (or to empty, a JSON record, when there is none) if it is of version; the
# merged record, or false (nothing written) when the stored one is of another version. Shared
# with the turn's closing script, which merges a turn's consent changes with its save.
MERGE_CONSENT_LUA = """
local function merge_consent(key, changes, version, empty)
  local raw = redis.call('GET', key)
  local record = cjson.decode(empty)
  if raw then
    record = cjson.decode(raw)
    if tonumber(record['v'] or 1) ~= tonumber(version) then return false end
  end
  for name, value in pairs(cjson.decode(changes)) do record[name] = value end
  record['v'] = tonumber(version)
  local merged = cjson.encode(record)
  redis.call('SET', key, merged)
  return merged
end
"""

# KEYS: the consent record. ARGV: changes, version, empty (as merge_consent takes them).
_MERGE_CONSENT = MERGE_CONSENT_LUA + "return merge_consent(KEYS[1], ARGV[1], ARGV[2], ARGV[3])"


class UserStore(Area):
    """Subscribers, reachability, activity, notes, languages, consent, WeChat grants."""

    SCRIPTS: ClassVar[Mapping[str, str]] = {
        "grant_event": _GRANT_EVENT,
        "take_grant": _TAKE_GRANT,
        "merge_consent": _MERGE_CONSENT,
        "arrive": _ARRIVE,
    }

    # -- subscriptions -------------------------------------------------------------------------

    async def subscribe(self, user: UserKey) -> None:
        """The user wants appeals (started the bot, followed the account)."""
        await call(self.redis.sadd(self.keys.subscribers(user.channel), user))

    async def unsubscribe(self, user: UserKey) -> None:
        """The user left, blocked the bot or cannot be reached."""
        await call(self.redis.srem(self.keys.subscribers(user.channel), user))

    async def is_subscribed(self, user: UserKey) -> bool:
        """Whether appeals go to this user."""
        return bool(await call(self.redis.sismember(self.keys.subscribers(user.channel), user)))

    async def subscribed(self, users: list[UserKey]) -> list[bool]:
        """Whether each of these users is subscribed, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for user in users:
            pipe.sismember(self.keys.subscribers(user.channel), user)
        return [bool(x) for x in await call(pipe.execute())]

    async def subscriber_counts(
        self, channels: tuple[str, ...] = ("telegram", "wechat")
    ) -> dict[str, int]:
        """How many subscribe to appeals on each channel."""
        pipe = self.redis.pipeline(transaction=False)
        for channel in channels:
            pipe.scard(self.keys.subscribers(channel))
        counts = await call(pipe.execute())
        return {c: int(n) for c, n in zip(channels, counts, strict=True)}

    def subscribers(self, channel: str) -> AsyncIterator[list[UserKey]]:
        """A channel's subscribers, a batch at a time (SSCAN), so memory stays flat."""
        return self._members(self.keys.subscribers(channel))

    def pledgers(self, base: str) -> AsyncIterator[list[UserKey]]:
        """Everyone who pledged at a base, a batch at a time."""
        return self._members(self.keys.pledgers(base))

    async def _members(self, key: str) -> AsyncIterator[list[UserKey]]:
        cursor = 0
        while True:
            cursor, found = await call(self.redis.sscan(key, cursor, count=SCAN_BATCH))
            if found:
                yield [UserKey(member) for member in found]
            if cursor == 0:
                return

    # -- reachability --------------------------------------------------------------------------

    async def mark_unreachable(self, user: UserKey) -> None:
        """The platform refuses messages to this user for now (WeChat's 48-hour window)."""
        await call(self.redis.sadd(self.keys.unreachable(user.channel), user))

    async def is_unreachable(self, user: UserKey) -> bool:
        """Whether the platform refused the last message to this user."""
        return bool(await call(self.redis.sismember(self.keys.unreachable(user.channel), user)))

    async def mark_active(self, openid: str, now: int) -> bool:
        """A WeChat user wrote: customer-service messages reach them for 48 hours. True the
        first time this follower is seen (within KNOWN_TTL), in the same round trip."""
        first, _ = await self.arrive(openid, now)
        return first

    async def arrive(self, openid: str, now: int, message_id: str = "") -> tuple[bool, str | None]:
        """`mark_active`, and in the same round trip the reply already given to `message_id`
        (a platform's retry), if one is kept: whether this follower is new, and that reply.
        One script on a single server; a pipeline on a cluster, whose keys live apart."""
        user = UserKey.of("wechat", openid)
        active, known = self.keys.wechat_active(), self.keys.known(user)
        reply_key = [self.keys.reply(user, message_id)] if message_id else []
        if not isinstance(self.redis, RedisCluster):
            new, kept = await self.run(
                "arrive", [active, known, *reply_key], [now, openid, KNOWN_TTL]
            )
            return bool(new), (str(kept) if kept is not None else None)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(active, {openid: now})
        pipe.set(known, "1", nx=True, ex=KNOWN_TTL)
        for key in reply_key:
            pipe.get(key)
        _, first, *reply = await call(pipe.execute())
        return bool(first), (str(reply[0]) if reply and reply[0] is not None else None)

    async def active_since(self, openids: list[str], since: int) -> list[bool]:
        """Whether each WeChat user wrote after `since`."""
        scores = await call(self.redis.zmscore(self.keys.wechat_active(), openids))
        return [score is not None and score >= since for score in scores]

    # -- notes and language --------------------------------------------------------------------

    async def leave_note(self, user: UserKey, text: str, certificate: str | None = None) -> None:
        """Keep a message (and the certificate it brings) for the user; the engine shows it at
        their next turn."""
        key = self.keys.notes(user)
        note = json.dumps({"text": text, "certificate": certificate}, ensure_ascii=False)
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(key, note)
        pipe.expire(key, NOTE_TTL)
        await call(pipe.execute())

    async def locale(self, user: UserKey) -> str | None:
        """The language a user's conversation is in (for messages sent outside it)."""
        return locale_in(await call(self.redis.get(self.keys.session(user))))

    async def locales(self, users: list[UserKey]) -> list[str | None]:
        """Each user's conversation language (None when unknown), in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for user in users:
            pipe.get(self.keys.session(user))
        return [locale_in(session) for session in await call(pipe.execute())]

    # -- consent ------------------------------------------------------------------------------

    async def consent(self, user: UserKey) -> str | None:
        """The user's consent record, if any."""
        found = await call(self.redis.get(self.keys.consent(user)))
        return str(found) if found is not None else None

    async def set_consent(self, user: UserKey, record: str) -> None:
        """Keep the user's consent record."""
        await call(self.redis.set(self.keys.consent(user), record))

    async def merge_consent(
        self, user: UserKey, changes: str, version: int, empty: str
    ) -> str | None:
        """Apply `changes` (a JSON object) to the user's consent record (or to `empty` when
        there is none) in one round trip, when the record is of `version`; the record written,
        or None when it is of another version (the caller migrates it first)."""
        args: list[str | int] = [changes, version, empty]
        found = await self.run("merge_consent", [self.keys.consent(user)], args)
        return str(found) if found else None

    # -- WeChat subscription grants -----------------------------------------------------------

    async def record_grants(
        self, user: UserKey, event_id: str, statuses: Sequence[tuple[str, str]]
    ) -> bool:
        """A subscription event: each accepted template allows one send more, any other status
        leaves none. Once per event (a replay changes nothing): False when seen before."""
        keys = [self.keys.seen(user, event_id), self.keys.grants(user)]
        args: list[str | int] = [SEEN_TTL]
        for template, status in statuses:
            args += [template, status]
        return bool(await self.run("grant_event", keys, args))

    async def take_grant(self, user: UserKey, template: str) -> bool:
        """Use one granted send of a template; False when none is left."""
        return bool(await self.run("take_grant", [self.keys.grants(user)], [template]))

    async def give_back_grant(self, user: UserKey, template: str) -> None:
        """A taken send that did not go out (WeChat failed): the user still has it."""
        await call(self.redis.hincrby(self.keys.grants(user), template, 1))

    async def drop_grant(self, user: UserKey, template: str) -> None:
        """WeChat says the user has no subscription to this template (any more)."""
        await call(self.redis.hdel(self.keys.grants(user), template))

    async def grants(self, user: UserKey) -> dict[str, int]:
        """Sends left per template."""
        found = await call(self.redis.hgetall(self.keys.grants(user)))
        return {str(k): int(v) for k, v in found.items()}

    # -- everything kept about a user ------------------------------------------------------------

    async def own_keys(self, user: UserKey) -> list[str]:
        """Every key under the user's hash tag (a SCAN: for /mydata and /forget)."""
        pattern = self.keys.user_pattern(user)
        return sorted([key async for key in self.redis.scan_iter(match=pattern, count=500)])

    async def read_key(self, key: str) -> object:
        """A key's value whatever its type: text, a mapping, a list or a set."""
        kind = await call(self.redis.type(key))
        match kind:
            case "string":
                return await call(self.redis.get(key))
            case "hash":
                return await call(self.redis.hgetall(key))
            case "list":
                return await call(self.redis.lrange(key, 0, -1))
            case "set":
                return sorted(await call(self.redis.smembers(key)))
            case "zset":
                return dict(await call(self.redis.zrange(key, 0, -1, withscores=True)))
            case _:
                return None

    async def memberships(self, user: UserKey, bases: Iterable[str]) -> dict[str, bool]:
        """Which shared lists name the user: appeals, unreachable, WeChat activity, base
        audiences (`audience:BASE`)."""
        k = self.keys
        names = ["subscribers", "unreachable"] + [f"audience:{b}" for b in bases]
        pipe = self.redis.pipeline(transaction=False)
        pipe.sismember(k.subscribers(user.channel), user)
        pipe.sismember(k.unreachable(user.channel), user)
        for base in bases:
            pipe.sismember(k.pledgers(base), user)
        found = [bool(x) for x in await call(pipe.execute())]
        if user.channel == "wechat":
            names.append("wechat_active")
            found.append(
                await call(self.redis.zscore(k.wechat_active(), user.user_id)) is not None
            )
        return dict(zip(names, found, strict=True))

    # -- forgetting ----------------------------------------------------------------------------

    async def forget(
        self,
        user: UserKey,
        serials: Iterable[str],
        bases: Iterable[str],
        pledge_ids: Iterable[str],
        name_digests: Mapping[str, str],
    ) -> None:
        """Delete what is kept about a user: every key under their hash tag (conversation,
        pledges, bookings, notes, consent, subscription grants, marks), their place in
        audiences, and the pledge and name indexes. A certificate serial stays, marked
        withdrawn by its owner, so a printed certificate reads as withdrawn rather than
        forged. (Slots keep their anonymous counts; a booked place stays taken until the user
        cancels it.)"""
        k = self.keys
        pipe = self.redis.pipeline(transaction=False)
        pipe.srem(k.subscribers(user.channel), user)
        pipe.srem(k.unreachable(user.channel), user)
        if user.channel == "wechat":
            pipe.zrem(k.wechat_active(), user.user_id)
        for base in bases:
            pipe.srem(k.pledgers(base), user)
        for pledge_id in pledge_ids:
            pipe.delete(k.pledge_owner(pledge_id))
        for serial in serials:
            pipe.set(k.certificate(serial), WITHDRAWN)
        for serial, digest in name_digests.items():
            pipe.srem(k.certificate_name(digest), serial)
        for key in await self.own_keys(user):
            if key != k.lock(user):  # the turn that forgets still holds it
                pipe.delete(key)
        await call(pipe.execute())


WITHDRAWN = "withdrawn"  # a certificate index whose owner deleted their data
