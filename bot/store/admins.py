"""The admin console's records: accounts (a hash of JSON records by name), console sessions
(renewed by each request, gone after 8 idle hours), failed-login counters, and the audit log (a
stream, only ever appended to)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.store.base import Area, call
from bot.store.keys import CONSOLE_IDLE_TTL, LOGIN_WINDOW_S


class AdminStore(Area):
    """Accounts, sessions, login failures, audit."""

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

    async def fail(self, *who: str) -> None:
        """Count a failed login against each of `who` (the window starts at the first)."""
        pipe = self.redis.pipeline(transaction=False)
        for one in who:
            key = self.keys.login_failures(one)
            pipe.incr(key)
            pipe.expire(key, LOGIN_WINDOW_S, nx=True)
        await call(pipe.execute())

    async def forgive(self, who: str) -> None:
        """A good login clears its account's count."""
        await call(self.redis.delete(self.keys.login_failures(who)))

    # -- audit -------------------------------------------------------------------------------

    async def append_audit(self, entry: Mapping[str, str]) -> None:
        """Add an entry to the audit log (never trimmed)."""
        await call(self.redis.xadd(self.keys.audit(), dict(entry)))  # type: ignore[arg-type]

    async def audit_entries(
        self, count: int, before: str = "+"
    ) -> list[tuple[str, dict[str, str]]]:
        """The newest `count` entries before the entry id `before` (newest first)."""
        found = await call(self.redis.xrevrange(self.keys.audit(), before, "-", count=count))
        return [(str(i), dict(fields)) for i, fields in found]
