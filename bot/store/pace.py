"""One send budget per platform account, shared by every process and worker: a generic cell
rate algorithm (GCRA) over several buckets at once (the account overall, one chat, a share
such as appeals), and a pause after a platform's "too many requests". One round trip per send;
times come from the Redis server's clock, so machines need not agree on the time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from bot.model import immutable
from bot.store.base import Area, call

# KEYS: the pause, then one key per bucket. ARGV: interval ms and burst per bucket.
# -> ms to wait (nothing taken), or 0 (one send taken from every bucket).
_TAKE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local paused = redis.call('PTTL', KEYS[1])
if paused > 0 then return paused end
local wait, next = 0, {}
for i = 2, #KEYS do
  local interval, burst = tonumber(ARGV[2 * i - 3]), tonumber(ARGV[2 * i - 2])
  local tat = math.max(tonumber(redis.call('GET', KEYS[i]) or '0'), now)
  local free = tat - interval * (burst - 1)
  if free - now > wait then wait = free - now end
  next[i] = tat + interval
end
if wait > 0 then return math.ceil(wait) end
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], next[i], 'PX', math.ceil(next[i] - now) + 1000)
end
return 0
"""


@immutable
class Bucket:
    """`rate` sends a second with bursts of `burst`, under a name within the channel."""

    name: str
    rate: float
    burst: int = 1


class PaceStore(Area):
    """The shared budgets of sending, per channel."""

    SCRIPTS: ClassVar[Mapping[str, str]] = {"take": _TAKE}

    async def take(self, channel: str, buckets: Sequence[Bucket]) -> float:
        """One send from every bucket at once: 0 when it may go now, else the seconds to
        wait (then nothing was taken)."""
        keys = [self.keys.pace(channel, "pause")]
        args: list[float | int] = []
        for bucket in buckets:
            keys.append(self.keys.pace(channel, bucket.name))
            args += [1000 / bucket.rate, max(1, bucket.burst)]
        return float(await self.run("take", keys, args)) / 1000

    async def pause(self, channel: str, seconds: float) -> None:
        """The platform asked to wait: every process holds its sends on the channel."""
        key = self.keys.pace(channel, "pause")
        await call(self.redis.set(key, "1", px=max(1, int(seconds * 1000))))
