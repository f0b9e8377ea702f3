"""Claims with evidence: the claim record, the review queue, and when each photo's time is up.

A claim is `tp:{claim:7}:record` (JSON); its photo is a blob (`store/blobs.py`), not in Redis
(versions before kept it as `tp:{claim:7}:photo`, base64: read until moved). A decision is one
script on the claim's hash tag that moves it out of `waiting` once, so of two admins deciding
at once one wins; the photo is then kept until EVIDENCE days after the decision
(`claims:photo-ends`, swept by the worker's daily retention).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import replace
from enum import StrEnum
from typing import ClassVar

from bot.model import UserKey, immutable
from bot.store.base import Area, call
from bot.store.keys import UPLOAD_TTL
from bot.store.records import load_record, stored_form

CLAIM_VERSION = 1

# KEYS: record, photo. ARGV: the decided record, evidence ttl seconds. 1 if this decided it.
_DECIDE = """
local current = redis.call('GET', KEYS[1])
if not current or not string.find(current, '"status":"waiting"', 1, true) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""


class ClaimStatus(StrEnum):
    """Where a claim stands."""

    WAITING = "waiting"
    APPROVED = "approved"
    REJECTED = "rejected"


@immutable
class Claim:
    """A citizen's claim that a pledge is fulfilled, with a photo as evidence."""

    id: str
    user_key: UserKey
    pledge_id: str
    base: str
    form: str
    created: str
    note: str = ""
    status: ClaimStatus = ClaimStatus.WAITING
    decided: str = ""
    decided_by: str = ""
    reason: str = ""
    v: int = CLAIM_VERSION

    def to_json(self) -> str:
        """The stored form (keys in a fixed order: the decide script looks for the status)."""
        return stored_form(self)

    @classmethod
    def from_json(cls, raw: str) -> Claim:
        """Read a stored record."""
        claim = load_record(cls, json.loads(raw), CLAIM_VERSION)
        return replace(claim, user_key=UserKey(claim.user_key), status=ClaimStatus(claim.status))


FORGOTTEN = "forgotten"  # the owner of a claim whose citizen deleted their data


class ClaimStore(Area):
    """Claims, their photos, the queue of claims waiting for review, users' pending uploads."""

    SCRIPTS: ClassVar[Mapping[str, str]] = {"decide": _DECIDE}

    async def next_id(self) -> str:
        """A new claim id."""
        return str(await call(self.redis.incr(self.keys.claim_counter())))

    async def create(self, claim: Claim, at: float) -> None:
        """Store a claim (its photo is kept already) and queue it for review."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.keys.claim(claim.id, "record"), claim.to_json())
        pipe.zadd(self.keys.claims_waiting(), {claim.id: at})
        await call(pipe.execute())

    async def get(self, claim_id: str) -> Claim | None:
        """One claim, or None."""
        raw = await call(self.redis.get(self.keys.claim(claim_id, "record")))
        return Claim.from_json(raw) if raw else None

    async def old_photo(self, claim_id: str) -> bytes | None:
        """A photo an older version kept in Redis, if it is still there."""
        raw = await call(self.redis.get(self.keys.claim(claim_id, "photo")))
        return base64.b64decode(raw) if raw else None

    async def drop_old_photo(self, claim_id: str) -> None:
        """The photo kept in Redis is gone (its time was up)."""
        await call(self.redis.delete(self.keys.claim(claim_id, "photo")))

    async def retire_old_photo(self, claim_id: str) -> None:
        """The photo kept in Redis was moved to the blobs: it goes, and the time it had left
        (a decided claim's) is kept in `claims:photo-ends`."""
        key = self.keys.claim(claim_id, "photo")
        left = int(await call(self.redis.ttl(key)))
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(key)
        if left > 0:
            pipe.zadd(self.keys.claim_photo_ends(), {claim_id: time.time() + left})
        await call(pipe.execute())

    async def queue(self) -> tuple[int, float | None]:
        """How many claims wait for review, and since when (epoch seconds) the oldest."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(self.keys.claims_waiting())
        pipe.zrange(self.keys.claims_waiting(), 0, 0, withscores=True)
        count, oldest = await call(pipe.execute())
        return int(count), float(oldest[0][1]) if oldest else None

    async def waiting(self, limit: int = 50) -> list[str]:
        """Claims waiting for review, oldest first."""
        found = await call(self.redis.zrange(self.keys.claims_waiting(), 0, limit - 1))
        return [str(x) for x in found]

    async def decide(self, decided: Claim, evidence_ttl_s: int) -> bool:
        """Record a decision once, and when its photo's time is up; False when the claim was
        decided before."""
        keys = [self.keys.claim(decided.id, "record"), self.keys.claim(decided.id, "photo")]
        won = bool(await self.run("decide", keys, [decided.to_json(), evidence_ttl_s]))
        if won:
            now = time.time()
            pipe = self.redis.pipeline(transaction=False)
            pipe.zrem(self.keys.claims_waiting(), decided.id)
            pipe.zadd(self.keys.claims_decided(), {decided.id: now})
            pipe.zadd(self.keys.claim_photo_ends(), {decided.id: now + evidence_ttl_s})
            await call(pipe.execute())
        return won

    async def let_show(self, claim_id: str) -> None:
        """The citizen lets the claim's photo be shown on its base's page, once approved."""
        await call(self.redis.set(self.keys.claim(claim_id, "public"), "1"))

    async def may_show(self, claim_id: str) -> bool:
        """Whether the citizen let the photo be shown."""
        return bool(await call(self.redis.exists(self.keys.claim(claim_id, "public"))))

    async def show(self, base: str, claim_id: str, at: float, keep: int) -> None:
        """Put an approved photo on its base's page (the newest `keep` stay listed)."""
        key = self.keys.base_photos(base)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {claim_id: at})
            pipe.zremrangebyrank(key, 0, -keep - 1)
            await call(pipe.execute())

    async def unshow(self, base: str, claim_id: str) -> None:
        """Take a photo off its base's page (deleted, or its citizen's data gone)."""
        await call(self.redis.zrem(self.keys.base_photos(base), claim_id))

    async def shown(self, base: str, limit: int) -> list[str]:
        """The claims whose photos a base's page shows, newest first."""
        found = await call(self.redis.zrevrange(self.keys.base_photos(base), 0, limit - 1))
        return [str(x) for x in found]

    async def is_shown(self, base: str, claim_id: str) -> bool:
        """Whether a base's page shows this claim's photo."""
        score = await call(self.redis.zscore(self.keys.base_photos(base), claim_id))
        return score is not None

    async def photos_ending(self, until: float, limit: int = 500) -> list[str]:
        """Claims whose photo's time was up by `until`, oldest first."""
        key = self.keys.claim_photo_ends()
        found = await call(self.redis.zrangebyscore(key, "-inf", until, start=0, num=limit))
        return [str(x) for x in found]

    async def photos_ended(self, claim_ids: list[str]) -> None:
        """These claims' photos are gone."""
        if claim_ids:
            await call(self.redis.zrem(self.keys.claim_photo_ends(), *claim_ids))

    async def decided(self, limit: int = 50) -> list[str]:
        """Decided claims, newest decision first."""
        found = await call(self.redis.zrevrange(self.keys.claims_decided(), 0, limit - 1))
        return [str(x) for x in found]

    async def records(self, claim_ids: list[str]) -> list[Claim]:
        """Several claims in one round trip (the missing left out)."""
        if not claim_ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for claim_id in claim_ids:
            pipe.get(self.keys.claim(claim_id, "record"))
        return [Claim.from_json(raw) for raw in await call(pipe.execute()) if raw]

    async def forget(self, claims: list[Claim]) -> None:
        """A user deleted their data (the photos' blobs go first): a waiting claim leaves the
        queue, and each record keeps the decision without saying whose it was."""
        pipe = self.redis.pipeline(transaction=False)
        for claim in claims:
            anonymous = replace(claim, user_key=UserKey(FORGOTTEN), note="")
            pipe.set(self.keys.claim(claim.id, "record"), anonymous.to_json(), keepttl=True)
            pipe.delete(self.keys.claim(claim.id, "photo"))
            pipe.zrem(self.keys.claims_waiting(), claim.id)
            pipe.zrem(self.keys.claim_photo_ends(), claim.id)
            pipe.zrem(self.keys.base_photos(claim.base), claim.id)
            pipe.delete(self.keys.claim(claim.id, "public"))
        await call(pipe.execute())

    async def keep_upload(self, user: UserKey, photo: bytes) -> None:
        """Hold a photo a user sent until they say which pledge it is for."""
        key = self.keys.upload(user)
        await call(self.redis.set(key, base64.b64encode(photo).decode(), ex=UPLOAD_TTL))

    async def take_upload(self, user: UserKey) -> bytes | None:
        """The photo a user sent, removed from where it waited."""
        raw = await call(self.redis.getdel(self.keys.upload(user)))
        return base64.b64decode(raw) if raw else None
