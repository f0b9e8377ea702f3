"""Teams (单位/团队尽责): a work unit, a school or friends fulfil the duty together.

An organiser makes a team (a name, a base or any, a target in trees) and gets a join code, a
link and a QR code; members join by the code (`/join CODE`, on every channel) or the link, at
most one team a year, and leave when they wish. A member's pledges made while in the team count
for it; their own certificates are unchanged. When the team's fulfilled trees reach its target,
the organiser gets a collective certificate (集体尽责证书) with a serial of its own that
`/verify` shows as a team's.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from enum import StrEnum

from bot.catalog import Catalog
from bot.model import UserKey, immutable
from bot.services import names, serials
from bot.services.pledges import Pledge, Pledges, PledgeStatus, now_iso
from bot.store import Store
from bot.store.jobs import Notice
from bot.store.teams import Team

MAX_NAME_CHARS = 30
MAX_MEMBERS = 500  # a team's size: its page and its sums stay cheap
MAX_TARGET = 100_000
CODE_LENGTH = 6
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud, typed by hand


class Refusal(StrEnum):
    """Why a team was not made or joined."""

    UNKNOWN = "unknown"  # no team has that code
    IN_ANOTHER = "in_another"  # the user is in another team this year
    ALREADY = "already"  # already in this one
    FULL = "full"
    PAST = "past"  # a team of another year


@immutable
class Progress:
    """Where a team stands: members (masked names), trees pledged and fulfilled."""

    team: Team
    members: tuple[str, ...]
    pledged: int
    fulfilled: int

    @property
    def percent(self) -> int:
        """Fulfilled trees as a share of the target, at most 100."""
        return min(100, round(100 * self.fulfilled / max(1, self.team.target)))


class Teams:
    """The teams service: the chat, the console, the command line and the pages use it."""

    def __init__(
        self, store: Store, catalog: Catalog, pledges: Pledges, secret: str, public_base_url: str
    ) -> None:
        self.store = store.teams
        self.records = store.pledges
        self.jobs = store.jobs
        self.catalog = catalog
        self.pledges = pledges
        self.secret = secret
        self.public_base_url = public_base_url
        pledges.when_fulfilled(self._fulfilled)

    def link(self, team: Team) -> str:
        """The team's public page, where people see it and how to join."""
        return f"{self.public_base_url}/teams/{team.code}"

    @staticmethod
    def clean_code(typed: str) -> str:
        """A join code as typed (spaces, lower case, a `/join` before it) made plain."""
        return "".join(typed.upper().split()).removeprefix("/JOIN")[: CODE_LENGTH * 2]

    async def create(
        self,
        organiser: UserKey,
        name: str,
        base: str,
        target: int,
        year: int,
        *,
        joins: bool = True,
    ) -> Team | Refusal:
        """Make a team and put its organiser in it (`joins`; refused when they are in one
        this year). Staff make teams for others without joining them."""
        if joins and await self.store.of_user(organiser, year):
            return Refusal.IN_ANOTHER
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            team = Team(code, serials.new_id(), name, base, target, organiser, year, now_iso())
            if await self.store.create(team):
                break
        if joins:
            await self.store.join(code, organiser, year, team.created)
        return team

    async def get(self, code: str) -> Team | None:
        """A team by its code (as typed), or None."""
        cleaned = self.clean_code(code)
        return await self.store.get(cleaned) if cleaned.isalnum() else None

    async def mine(self, user: UserKey, year: int) -> Team | None:
        """The user's team of the year."""
        code = await self.store.of_user(user, year)
        return await self.store.get(code) if code else None

    async def join(self, user: UserKey, code: str, year: int) -> Team | Refusal:
        """Join a team by its code, once a year."""
        team = await self.get(code)
        if team is None:
            return Refusal.UNKNOWN
        if team.year != year:
            return Refusal.PAST
        if await self.store.size(team.code) >= MAX_MEMBERS:
            return Refusal.FULL
        other = await self.store.join(team.code, user, year, now_iso())
        if other is not None:
            return Refusal.ALREADY if other == team.code else Refusal.IN_ANOTHER
        return team

    async def leave(self, user: UserKey, year: int) -> Team | None:
        """Leave the year's team (what was pledged in it still counts for it)."""
        team = await self.mine(user, year)
        if team is not None:
            await self.store.leave(team.code, user, year)
        return team

    async def _members(self, team: Team) -> list[tuple[str, list[Pledge]]]:
        """Each member (by key, in order) with all their pledges, oldest first: one read."""
        members = sorted(await self.store.members(team.code))
        records = await self.records.of_users([UserKey(m) for m in members])
        return [
            (member, sorted(map(Pledge.from_json, raw.values()), key=lambda p: p.created))
            for member, raw in zip(members, records, strict=True)
        ]

    async def progress(self, team: Team) -> Progress:
        """Members (masked names) and trees: the pledges made for the team, by members past
        and present."""
        pledged = fulfilled = 0
        masked = []
        for _, theirs in await self._members(team):
            named = [p.name for p in theirs if p.name]
            masked.append(names.mask_name(named[-1]) if named else "*")
            for pledge in (p for p in theirs if p.team == team.code):
                if pledge.status == PledgeStatus.FULFILLED:
                    fulfilled += pledge.trees
                if pledge.status in (PledgeStatus.PLEDGED, PledgeStatus.FULFILLED):
                    pledged += pledge.trees
        return Progress(team, tuple(sorted(masked)), pledged, fulfilled)

    async def lines(self, team: Team) -> list[tuple[str, Pledge | None]]:
        """Each member (by key) with each pledge of theirs that counts for the team (None
        beside a member with none), for the console and its export."""
        found: list[tuple[str, Pledge | None]] = []
        for member, theirs in await self._members(team):
            counted = [p for p in theirs if p.team == team.code]
            found += [(member, p) for p in counted] or [(member, None)]
        return found

    async def all(self, limit: int = 200) -> list[Team]:
        """Teams, newest first."""
        found = [await self.store.get(code) for code in await self.store.codes(limit)]
        return [t for t in found if t is not None]

    async def by_serial(self, serial: str) -> Team | None:
        """The team a collective certificate's serial belongs to; None for any other."""
        checked = serials.verify(serial, self.secret)
        code = await self.store.by_serial(checked) if checked else None
        return await self.store.get(code) if code else None

    async def _fulfilled(self, pledge: Pledge) -> None:
        """A member's pledge fulfilled: the team's certificate when the target is reached."""
        team = await self.store.get(pledge.team) if pledge.team else None
        if team is None or team.serial:
            return
        progress = await self.progress(team)
        if progress.fulfilled < team.target:
            return
        serial = serials.issue(team.year, team.id, self.secret)
        await self.store.save(replace(team, serial=serial, certified=now_iso()))
        await self.store.index_certificate(serial, team.code)
        params: dict[str, str | int] = {
            "team": team.name,
            "trees": progress.fulfilled,
            "serial": serial,
            "link": f"{self.public_base_url}/teams/{team.code}/certificate.png",
        }
        await self.jobs.notify(Notice(team.organiser, "team.certified", params))
