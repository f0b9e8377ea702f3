"""Teams (单位/团队尽责): the team's record, its members, and each user's team of a year.

A team is `tp:{team:CODE}:record` (JSON) and `tp:{team:CODE}:members` (user key → when they
joined); `tp:{u:KEY}:team` says which team a user is in, by year, so a user is in at most one
team a year (HSETNX decides, whichever process asks). `tp:teams` lists every team by when it
was made; `tp:teamcert:SERIAL` names the team a collective certificate belongs to.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import cast

from bot.model import UserKey, immutable
from bot.store.base import Area, call
from bot.store.records import load_record, stored_form

TEAM_VERSION = 1
FORGOTTEN = "forgotten"  # the organiser of a team whose maker deleted their data


@immutable
class Team:
    """A team: its join code, name, base ("" for any), target in trees, who made it, the year
    it is for, and its collective certificate once earned."""

    code: str
    id: str  # in the serial alphabet: the collective certificate's serial is made of it
    name: str
    base: str
    target: int
    organiser: UserKey
    year: int
    created: str
    serial: str = ""  # the collective certificate's, once the target is reached
    certified: str = ""  # when it was issued
    v: int = TEAM_VERSION

    def to_json(self) -> str:
        """The stored form."""
        return stored_form(self)

    @classmethod
    def from_json(cls, raw: str) -> Team:
        """Read a stored record."""
        team = load_record(cls, json.loads(raw), TEAM_VERSION)
        return replace(team, organiser=UserKey(team.organiser))


class TeamStore(Area):
    """Teams and their members."""

    async def create(self, team: Team) -> bool:
        """Store a new team under its code; False when the code is taken."""
        record = self.keys.team(team.code, "record")
        if not await call(self.redis.set(record, team.to_json(), nx=True)):
            return False
        await call(self.redis.zadd(self.keys.teams(), {team.code: time.time()}))
        return True

    async def get(self, code: str) -> Team | None:
        """One team, or None."""
        raw = await call(self.redis.get(self.keys.team(code, "record")))
        return Team.from_json(raw) if raw else None

    async def save(self, team: Team) -> None:
        """Write a team's record again (its certificate issued)."""
        await call(self.redis.set(self.keys.team(team.code, "record"), team.to_json()))

    async def codes(self, limit: int = 1000) -> list[str]:
        """Teams, newest first."""
        found = await call(self.redis.zrevrange(self.keys.teams(), 0, limit - 1))
        return [str(c) for c in found]

    async def of_user(self, user: UserKey, year: int) -> str | None:
        """The code of the user's team of `year`, if any."""
        found = await call(self.redis.hget(self.keys.user_team(user), str(year)))
        return str(found) if found else None

    async def join(self, code: str, user: UserKey, year: int, at: str) -> str | None:
        """Put the user in the team for the year; None when done, else the code of the team
        they are in already."""
        mine = self.keys.user_team(user)
        if not await call(self.redis.hsetnx(mine, str(year), code)):
            return str(await call(self.redis.hget(mine, str(year))) or "")
        await call(self.redis.hset(self.keys.team(code, "members"), str(user), at))
        return None

    async def leave(self, code: str, user: UserKey, year: int) -> None:
        """Take the user out of the team (their pledges made in it still count for it)."""
        await call(self.redis.hdel(self.keys.user_team(user), str(year)))
        await call(self.redis.hdel(self.keys.team(code, "members"), str(user)))

    async def members(self, code: str) -> dict[str, str]:
        """A team's members (user key → when they joined)."""
        found = await call(self.redis.hgetall(self.keys.team(code, "members")))
        return cast(dict[str, str], found)

    async def size(self, code: str) -> int:
        """How many members a team has."""
        return int(await call(self.redis.hlen(self.keys.team(code, "members"))))

    async def index_certificate(self, serial: str, code: str) -> None:
        """A collective certificate issued: its serial names the team."""
        await call(self.redis.set(self.keys.team_certificate(serial), code))

    async def by_serial(self, serial: str) -> str | None:
        """The team of a collective certificate's serial."""
        found = await call(self.redis.get(self.keys.team_certificate(serial)))
        return str(found) if found else None

    async def forget(self, user: UserKey) -> None:
        """A user deleted their data: out of every team they were in; a team they made keeps
        going without naming them."""
        mine = self.keys.user_team(user)
        codes = set(cast(dict[str, str], await call(self.redis.hgetall(mine))).values())
        for code in codes:
            await call(self.redis.hdel(self.keys.team(code, "members"), str(user)))
            team = await self.get(code)
            if team is not None and team.organiser == user:
                await self.save(replace(team, organiser=UserKey(FORGOTTEN)))
        await call(self.redis.delete(mine))
