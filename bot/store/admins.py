"""The admin console's records: accounts (a hash of JSON records by name), console sessions
(renewed by each request, gone after 8 idle hours), failed-login counters and the guesses of an
account under attack, and the audit log (a stream, trimmed by age as it is appended to)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from bot.store.base import Area, call
from bot.store.keys import CONSOLE_IDLE_TTL, LOGIN_WINDOW_S, STRANGERS_TTL

_GUESS = """
local slot = math.max(tonumber(ARGV[1]), tonumber(redis.call('GET', KEYS[1]) or 0))
redis.call('SET', KEYS[1], slot + tonumber(ARGV[2]), 'EX', ARGV[3])
return tostring(slot)
"""


class AdminStore(Area):
    """Accounts, sessions, login failures, audit."""

    SCRIPTS: ClassVar[Mapping[str, str]] = {"guess": _GUESS}

    async def account(self, name: str) -> str | None:
        """An account's record, or None."""
        found = await call(self.redis.hget(self.keys.admins(), name))
        return str(found) if found is not None else None

    async def accounts(self) -> dict[str, str]:
        """Every account's record by name."""
        return dict(await call(self.redis.hgetall(self.keys.admins())))

    async def create_account(self, name: str, record: str) -> bool:
        """Store a new account; False if the name is taken."""
        return bool(await call(self.redis.hsetnx(self.keys.admins(), name, record)))

    async def save_account(self, name: str, record: str) -> None:
        """Replace an account's record."""
        await call(self.redis.hset(self.keys.admins(), name, record))

    async def any_account(self) -> bool:
        """Whether any account exists."""
        return bool(await call(self.redis.hlen(self.keys.admins())))

    # -- sessions --------------------------------------------------------------------------

    async def load_session(self, session_id: str) -> dict[str, Any] | None:
        """A session's data, its idle time renewed; None when it is over or unknown."""
        key = self.keys.console_session(session_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(key)
        pipe.expire(key, CONSOLE_IDLE_TTL)
        raw, _ = await call(pipe.execute())
        return dict(json.loads(raw)) if raw else None

    async def save_session(self, session_id: str, data: Mapping[str, Any]) -> None:
        """Keep a session's data for CONSOLE_IDLE_TTL."""
        key = self.keys.console_session(session_id)
        await call(self.redis.set(key, json.dumps(dict(data)), ex=CONSOLE_IDLE_TTL))

    async def end_session(self, session_id: str) -> None:
        """Forget a session (logout)."""
        await call(self.redis.delete(self.keys.console_session(session_id)))

    # -- failed logins -----------------------------------------------------------------------

    async def failures(self, *who: str) -> list[int]:
        """Failed logins in the window, for each of `who`."""
        pipe = self.redis.pipeline(transaction=False)
        for one in who:
            pipe.get(self.keys.login_failures(one))
        return [int(x or 0) for x in await call(pipe.execute())]

    async def fail(self, *who: str) -> list[int]:
        """Count a failed login against each of `who` (the window starts at the first); the
        counts now."""
        pipe = self.redis.pipeline(transaction=False)
        for one in who:
            key = self.keys.login_failures(one)
            pipe.incr(key)
            pipe.expire(key, LOGIN_WINDOW_S, nx=True)
        return [int(x) for x in (await call(pipe.execute()))[::2]]

    async def next_guess(self, account: str, now: float, every: float) -> float:
        """Reserve the account's next guess, `every` seconds after the one before; how long
        to wait for it."""
        key = self.keys.login_guesses(account)
        slot = await self.run("guess", [key], [now, every, LOGIN_WINDOW_S])
        return max(0.0, float(slot) - now)

    async def forgive(self, who: str) -> None:
        """A good login clears its account's count."""
        await call(self.redis.delete(self.keys.login_failures(who)))

    # -- audit -------------------------------------------------------------------------------

    async def append_audit(self, entry: Mapping[str, str], keep_ms: int) -> None:
        """Add an entry to the audit log; entries older than `keep_ms` go (approximately: whole
        nodes of the stream, so trimming costs next to nothing)."""
        oldest = f"{int(time.time() * 1000) - keep_ms}-0"
        await call(
            self.redis.xadd(self.keys.audit(), dict(entry), minid=oldest, approximate=True)  # type: ignore[arg-type]
        )

    async def count_refusal(self, address: str, what: str, minute: int) -> int:
        """Count a stranger's refusal in its minute; the count so far."""
        key = self.keys.refusals(address, what, minute)
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, STRANGERS_TTL, nx=True)
        count, _ = await call(pipe.execute())
        return int(count)

    async def audit_entries(
        self, count: int, before: str = "+"
    ) -> list[tuple[str, dict[str, str]]]:
        """The newest `count` entries before the entry id `before` (newest first)."""
        found = await call(self.redis.xrevrange(self.keys.audit(), before, "-", count=count))
        return [(str(i), dict(fields)) for i, fields in found]
