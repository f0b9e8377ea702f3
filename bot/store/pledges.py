"""Pledge records (a hash per user, recorded once by pledge id), the certificate index and the
daily counters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from bot.model import UserKey
from bot.store.base import Area, call


@dataclass(frozen=True, slots=True)
class StoredPledge:
    """A pledge as stored: its owner and its JSON record."""

    user_key: UserKey
    pledge_id: str
    record: str


class PledgeStore(Area):
    """Pledges, certificate serials and statistics."""

    async def record(
        self,
        base: str,
        user: UserKey,
        pledge_id: str,
        record: str,
        serial: str | None,
        counters: Mapping[str, int],
        day: str,
    ) -> bool:
        """Store a pledge once (idempotent by id), index its certificate and count it for the
        day's statistics. False when this pledge id was recorded before (nothing changes)."""
        created = await call(self.redis.hsetnx(self.keys.pledges(user), pledge_id, record))
        if not created:
            return False
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(self.keys.pledgers(base), user)
        if serial is not None:
            pipe.set(self.keys.certificate(serial), f"{user}\n{pledge_id}")
        for name, amount in counters.items():
            pipe.hincrby(self.keys.stats(day), name, amount)
        await call(pipe.execute())
        return True

    async def of_user(self, user: UserKey) -> dict[str, str]:
        """All pledge records of a user, by pledge id."""
        return cast(dict[str, str], await call(self.redis.hgetall(self.keys.pledges(user))))

    async def by_serial(self, serial: str) -> StoredPledge | None:
        """The pledge a certificate serial belongs to, or None."""
        owner = await call(self.redis.get(self.keys.certificate(serial)))
        if not owner:
            return None
        user, pledge_id = owner.split("\n", 1)
        record = await call(self.redis.hget(self.keys.pledges(user), pledge_id))
        return StoredPledge(UserKey(user), pledge_id, record) if record else None

    async def day_stats(self, day: str) -> dict[str, int]:
        """The counters of one day (YYYY-MM-DD): pledges per base and form, trees, yuan."""
        raw = await call(self.redis.hgetall(self.keys.stats(day)))
        return {k: int(v) for k, v in raw.items()}
