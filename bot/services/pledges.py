"""Pledges and their life: `pledged` → `fulfilled` (certificate issued) → `revoked`; `pledged` →
`cancelled` (by the citizen) or `expired` (not fulfilled in the catalogue's days).

Fulfilment comes from a payment, a check-in at a booked event, or an admin approving a claim
with evidence; confirming a pledge fulfils nothing. Each transition is computed here and
written by one compare-and-set script on the pledge's hash tag, with an entry in the pledge's
history (when, what, by whom); a transition that finds the pledge already where it would go
changes nothing, so none happens twice. A certificate exists only for a fulfilled pledge; the
yearly duty is the sum of the trees of fulfilled pledges in a calendar year (Asia/Shanghai).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot import metrics
from bot.catalog import Catalog, Fulfilment, Measure
from bot.errors import StoreError
from bot.model import UserKey, immutable
from bot.services import serials
from bot.services.names import mask_name
from bot.store import Store
from bot.store.jobs import JobKind, Notice
from bot.store.pledges import PledgeStore, StoredPledge
from bot.store.records import load_record, stored_form

RECORD_VERSION = 2
ATTEMPTS = 8  # compare-and-set retries when another process changed the pledge first


class PledgeStatus(StrEnum):
    """Where a pledge stands (a contract: these values are stored and exported)."""

    PLEDGED = "pledged"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REVOKED = "revoked"


@immutable
class Event:
    """One line of a pledge's history: when, what, by whom (citizen, payment:ID, admin:ID,
    checkin, system), and a note."""

    at: str
    what: str
    by: str
    note: str = ""


@immutable
class Pledge:
    """One pledge: who, where, how, how much, how it is fulfilled, and its certificate."""

    id: str
    user_key: UserKey
    base: str
    form: str
    trees: int
    amount_yuan: int
    name: str
    locale: str
    created: str  # ISO 8601, UTC
    status: PledgeStatus = PledgeStatus.PLEDGED
    serial: str | None = None
    way: Fulfilment = Fulfilment.CLAIM
    due: int = 0  # epoch seconds: a pledge still pledged then expires
    reference: str = ""  # the code a donor writes in the remark (link-out payments)
    order: str = ""  # the current WeChat Pay order (out_trade_no)
    claim: str = ""  # the current claim with evidence
    flagged: str = ""  # something for an admin to look at (a late or odd payment)
    edition: int = 0  # how often the certificate was re-issued (a corrected name)
    honorary: bool = False  # outside the duty's ages: the honorary certificate
    dedication: str = ""  # printed under the name ("献给女儿小满"); never on /verify
    team: str = ""  # the team it counts for (its code): the maker's team when it was made
    history: tuple[Event, ...] = field(default=())
    v: int = RECORD_VERSION

    @property
    def channel(self) -> str:
        """The channel the pledge was made on."""
        return self.user_key.channel

    @property
    def awaits_name(self) -> bool:
        """Fulfilled, its certificate earned, and waiting for the name to print on it."""
        return (
            self.status == PledgeStatus.FULFILLED
            and not self.serial
            and any(e.what == NAME_WANTED for e in self.history)
        )

    def to_json(self) -> str:
        """The stored form."""
        return stored_form(self)

    @classmethod
    def from_json(cls, raw: str) -> Pledge:
        """Read a stored record (older versions migrated)."""
        pledge = load_record(cls, json.loads(raw), RECORD_VERSION, {1: _from_v1})
        history = tuple(e if isinstance(e, Event) else Event(**e) for e in pledge.history)
        return replace(
            pledge,
            user_key=UserKey(pledge.user_key),
            status=PledgeStatus(pledge.status),
            way=Fulfilment(pledge.way),
            history=history,
        )


NAME_WANTED = "name_wanted"  # a history event: the certificate waits for a name
CHECKED_IN = "checkin"  # who fulfilled a pledge at a check-in at the base (trees planted)
NAME_NOTICE = "pledge.name_wanted"  # the notice asking for it

_V1_WAYS = {"donation": "payment", "adoption": "payment", "volunteering": "checkin"}


def _from_v1(record: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (issues 2-7) fulfilled a pledge when it was confirmed; say so in its history."""
    history = [{"at": record["created"], "what": "pledged", "by": "citizen"}]
    if record.get("status") == PledgeStatus.FULFILLED:
        note = "fulfilled on confirmation (version 1, before payments and claims)"
        history.append({"at": record["created"], "what": "fulfilled", "by": "v1", "note": note})
    return {**record, "way": _V1_WAYS.get(record["form"], "event_or_claim"), "history": history}


@immutable
class YearSummary:
    """A user's pledges in one year and the trees they count toward the duty."""

    year: int
    pledges: tuple[Pledge, ...]
    trees: int

    @property
    def certificates(self) -> tuple[Pledge, ...]:
        """The fulfilled pledges that carry a certificate."""
        return tuple(p for p in self.pledges if p.serial and p.status == PledgeStatus.FULFILLED)


@immutable
class Change:
    """What a transition did: the pledge after it, and whether this call made it."""

    pledge: Pledge
    changed: bool


def now_iso() -> str:
    """Now, as history and records write it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Pledges:
    """Records pledges, moves them through their life, serves them back."""

    def __init__(self, store: Store, catalog: Catalog, secret: str) -> None:
        self.store = store
        self.catalog = catalog
        self.secret = secret
        self._when_fulfilled: list[Callable[[Pledge], Awaitable[None]]] = []

    def when_fulfilled(self, hook: Callable[[Pledge], Awaitable[None]]) -> None:
        """Call `hook` with every pledge once it is fulfilled (a team's certificate)."""
        self._when_fulfilled.append(hook)

    def year_of(self, created: str) -> int:
        """The local calendar year of a UTC timestamp."""
        return self.catalog.local(created).year

    def _day(self, moment: str) -> str:
        return self.catalog.local(moment).date().isoformat()

    # -- creating ----------------------------------------------------------------------------

    async def confirm(self, pledge: Pledge) -> Pledge:
        """Record a confirmed pledge once (idempotent by id), waiting for its fulfilment until
        the catalogue's days have passed. The link-out `reference` it may carry (drawn by the
        payments service) is claimed with it; a code another pledge holds is dropped, and
        checking out draws another."""
        form = self.catalog.form(pledge.form)
        way = self.catalog.way(form) if form else Fulfilment.CLAIM
        created = datetime.fromisoformat(pledge.created)
        due = int(created.timestamp()) + self.catalog.days_to_fulfil(way) * 86400
        history = [Event(pledge.created, "pledged", "citizen")]
        if pledge.reference:
            history.append(Event(pledge.created, "reference", "system", pledge.reference))
        team = await self.store.teams.of_user(pledge.user_key, self.year_of(pledge.created))
        waiting = replace(
            pledge,
            status=PledgeStatus.PLEDGED,
            way=way,
            due=due,
            history=tuple(history),
            team=team or "",
        )
        counters = {
            "pledges": 1,
            f"base:{pledge.base}": 1,
            f"form:{pledge.form}": 1,
            f"pledged:{pledge.base}:{pledge.form}": 1,
            f"pledged_trees:{pledge.base}:{pledge.form}": pledge.trees,
        }
        day = self._day(pledge.created)
        done = await self.store.pledges.create(
            pledge.user_key,
            pledge.id,
            waiting.to_json(),
            pledge.base,
            counters,
            day,
            expiry=(_ref(waiting), due),
            reference=pledge.reference,
        )
        if not done.created:
            return await self.get(pledge.user_key, pledge.id) or waiting
        if done.reference_kept or not pledge.reference:
            return waiting
        taken = Event(now_iso(), "reference_taken", "system", pledge.reference)
        return await self.note(pledge.user_key, pledge.id, taken, reference="") or waiting

    async def record_attendance(
        self, user: UserKey, base: str, trees: int, name: str, locale: str, ref: str, created: str
    ) -> Pledge:
        """Attended volunteering as a fulfilled pledge (once per `ref`); it carries a
        certificate when the year's fulfilled trees, itself included, reach the duty."""
        digest = hashlib.sha256(f"{user}\n{ref}".encode()).digest()
        pledge_id = "".join(serials.ALPHABET[b % 32] for b in digest[: serials.ID_LENGTH])
        known = await self.get(user, pledge_id)
        if known is not None:
            return known
        summary = await self.year_summary(user, self.year_of(created))
        pledge = Pledge(
            id=pledge_id,
            user_key=user,
            base=base,
            form="volunteering",
            trees=trees,
            amount_yuan=0,
            name=name or next((p.name for p in summary.pledges if p.name), ""),
            locale=locale,
            created=created,
            way=Fulfilment.CHECKIN,
        )
        confirmed = await self.confirm(pledge)
        earns = summary.trees + trees >= self.catalog.rules.duty_min_trees
        done = await self.fulfil(
            user, confirmed.id, CHECKED_IN, ref, certificate=earns, notify=False
        )
        return done.pledge if done else confirmed

    # -- reading ------------------------------------------------------------------------------

    async def get(self, user: UserKey, pledge_id: str) -> Pledge | None:
        """One of a user's pledges, or None."""
        raw = await self.store.pledges.get(user, pledge_id)
        return Pledge.from_json(raw) if raw else None

    async def of_user(self, user: UserKey) -> list[Pledge]:
        """All of a user's pledges."""
        return [Pledge.from_json(r) for r in (await self.store.pledges.of_user(user)).values()]

    async def name_of(self, user: UserKey) -> str:
        """The name on the user's newest pledge that has one ("" when none has)."""
        named = [p for p in await self.of_user(user) if p.name]
        return max(named, key=lambda p: p.created).name if named else ""

    async def year_summary(self, user: UserKey, year: int) -> YearSummary:
        """The user's pledges of `year`, newest first, and the trees fulfilled."""
        pledges = sorted(
            (p for p in await self.of_user(user) if self.year_of(p.created) == year),
            key=lambda p: p.created,
            reverse=True,
        )
        trees = sum(p.trees for p in pledges if p.status == PledgeStatus.FULFILLED)
        return YearSummary(year, tuple(pledges), trees)

    async def by_serial(self, serial: str) -> Pledge | None:
        """The pledge behind a certificate serial (fulfilled, or revoked since); None for
        unknown or forged serials and for a serial its pledge does not carry."""
        checked = serials.verify(serial, self.secret)
        stored = await self.store.pledges.by_serial(checked) if checked else None
        pledge = Pledge.from_json(stored.record) if stored else None
        return pledge if pledge is not None and pledge.serial == checked else None

    async def withdrawn(self, serial: str) -> bool:
        """Whether a genuine serial was withdrawn by its owner (who deleted their data)."""
        checked = serials.verify(serial, self.secret)
        return bool(checked) and await self.store.pledges.withdrawn(checked or "")

    # -- the life of a pledge ----------------------------------------------------------------

    async def change(
        self,
        user: UserKey,
        pledge_id: str,
        step: Callable[[Pledge], Pledge | None],
        read: str | None = None,
    ) -> Change | None:
        """Apply `step` to the pledge by compare-and-set, retried while another process changes
        it first (`read`: the record as the caller just read it, to start from). `step` returns
        the new pledge, or None when there is nothing to do (then the pledge is returned
        unchanged). None when there is no such pledge."""
        for _ in range(ATTEMPTS):
            raw, read = read or await self.store.pledges.get(user, pledge_id), None
            if raw is None:
                return None
            current = Pledge.from_json(raw)
            new = step(current)
            if new is None:
                return Change(current, False)
            if await self.store.pledges.replace(user, pledge_id, raw, new.to_json()):
                return Change(new, True)
        raise StoreError(f"pledge {pledge_id} kept changing under a transition")

    async def note(
        self, user: UserKey, pledge_id: str, event: Event, **fields: Any
    ) -> Pledge | None:
        """Write an event into a pledge's history (and set `fields`), its status unchanged."""

        def step(p: Pledge) -> Pledge:
            return replace(p, history=(*p.history, event), **fields)

        done = await self.change(user, pledge_id, step)
        return done.pledge if done else None

    async def extend(self, user: UserKey, pledge_id: str, due: int, event: Event) -> None:
        """Give a pledge still waiting until `due` (never less time than it had)."""
        pledge = await self.get(user, pledge_id)
        if pledge is None or pledge.status != PledgeStatus.PLEDGED or pledge.due >= due:
            return
        changed = await self.note(user, pledge_id, event, due=due)
        if changed is not None:
            await self.store.jobs.schedule(JobKind.EXPIRE, _ref(changed), due)

    async def fulfil(
        self,
        user: UserKey,
        pledge_id: str,
        by: str,
        note: str = "",
        *,
        certificate: bool | None = None,
        late: bool = False,
        notify: bool = True,
    ) -> Change | None:
        """pledged → fulfilled, with a certificate when the pledge earns one (or when
        `certificate` says so). `late`: also from expired (a payment that arrived after the
        deadline: the money is there). The certificate index is written first, so a serial
        a pledge shows always verifies. The citizen is told (unless `notify` is False: the
        caller tells them its own way)."""
        raw = await self.store.pledges.get(user, pledge_id)
        if raw is None:
            return None
        pledge = Pledge.from_json(raw)
        earns = self._earns(pledge) if certificate is None else certificate
        issues = earns and bool(pledge.name)  # no certificate without a name: it waits for one
        serial = serials.issue(self.year_of(pledge.created), pledge.id, self.secret)
        if issues and pledge.status != PledgeStatus.FULFILLED:
            await self.store.pledges.index_certificate(serial, user, pledge.id)
        sources = (PledgeStatus.PLEDGED, PledgeStatus.EXPIRED) if late else (PledgeStatus.PLEDGED,)
        at = now_iso()

        def step(p: Pledge) -> Pledge | None:
            if p.status not in sources:
                return None
            events = [Event(at, "fulfilled", by, note)]
            if earns and not issues:
                events.append(Event(at, NAME_WANTED, "system"))
            return replace(
                p,
                status=PledgeStatus.FULFILLED,
                serial=serial if issues else None,
                history=(*p.history, *events),
            )

        done = await self.change(user, pledge_id, step, raw)
        if done is not None and done.changed:
            await self._fulfilled(done.pledge, at, notify, planted=by == CHECKED_IN)
        return done

    async def _fulfilled(self, pledge: Pledge, at: str, notify: bool, planted: bool) -> None:
        key = f"{pledge.base}:{pledge.form}"
        counters = {
            "fulfilled": 1,
            "trees": pledge.trees,
            "yuan": pledge.amount_yuan,
            f"fulfilled:{key}": 1,
            f"trees:{key}": pledge.trees,
            f"yuan:{key}": pledge.amount_yuan,
        }
        if planted:  # done at the base, checked in
            counters |= {"planted": pledge.trees, f"planted:{key}": pledge.trees}
        if pledge.way == Fulfilment.PAYMENT:
            form = self.catalog.form(pledge.form)
            paid = self.catalog.price_yuan(form, pledge.trees, pledge.amount_yuan) if form else 0
            counters |= {"paid": paid, f"paid:{key}": paid}
        if pledge.serial:
            counters |= await self._certified(pledge)
        await self.store.pledges.count(self._day(at), counters)
        for hook in self._when_fulfilled:
            await hook(pledge)
        if pledge.awaits_name:  # asked for the name whoever fulfilled it, told or not
            params: dict[str, str | int] = {"trees": pledge.trees, "pledge": pledge.id}
            await self.store.jobs.notify(Notice(pledge.user_key, NAME_NOTICE, params))
            return
        if not notify:
            return
        params = {"trees": pledge.trees, "serial": pledge.serial or ""}
        key_name = "pledge.fulfilled_certificate" if pledge.serial else "pledge.fulfilled"
        await self.store.jobs.notify(
            Notice(pledge.user_key, key_name, params, certificate=pledge.serial)
        )

    async def _certified(self, pledge: Pledge) -> dict[str, int]:
        """A certificate issued: its name indexed; the day's counters it adds to."""
        metrics.CERTIFICATES.inc()
        await self.store.pledges.index_name(name_digest(pledge.name), pledge.serial or "")
        return {"certificates": 1, f"certificates:{pledge.base}:{pledge.form}": 1}

    async def name_certificate(
        self, user: UserKey, pledge_id: str, name: str, by: str
    ) -> Pledge | None:
        """Print `name` on the certificate a fulfilled pledge waits for, and issue it (once);
        the pledge, or None when it waits for nothing."""
        pledge = await self.get(user, pledge_id)
        if pledge is None or not pledge.awaits_name:
            return None
        serial = serials.issue(self.year_of(pledge.created), pledge.id, self.secret)
        await self.store.pledges.index_certificate(serial, user, pledge.id)
        at = now_iso()

        def step(p: Pledge) -> Pledge | None:
            if not p.awaits_name:
                return None
            event = Event(at, "certificate", by)
            return replace(p, name=name, serial=serial, history=(*p.history, event))

        done = await self.change(user, pledge_id, step)
        if done is None or not done.changed:
            return done.pledge if done else None
        await self.store.pledges.count(self._day(at), await self._certified(done.pledge))
        return done.pledge

    def _earns(self, pledge: Pledge) -> bool:
        form = self.catalog.form(pledge.form)
        if form is None:
            return False
        measure = pledge.amount_yuan if form.measure == Measure.YUAN else pledge.trees
        return self.catalog.certificate_gap(form, measure) == 0

    async def end(
        self,
        user: UserKey,
        pledge_id: str,
        status: PledgeStatus,
        by: str,
        note: str = "",
        *,
        now: int | None = None,
    ) -> Change | None:
        """pledged → cancelled or expired (not before its due time), fulfilled → revoked."""
        source = PledgeStatus.FULFILLED if status == PledgeStatus.REVOKED else PledgeStatus.PLEDGED
        at = now_iso()

        def step(p: Pledge) -> Pledge | None:
            if p.status != source or (status == PledgeStatus.EXPIRED and (now or 0) < p.due):
                return None
            return replace(
                p, status=status, history=(*p.history, Event(at, str(status), by, note))
            )

        done = await self.change(user, pledge_id, step)
        if done is not None and done.changed:
            p = done.pledge
            await self.store.pledges.count(
                self._day(at), {str(status): 1, f"{status}:{p.base}:{p.form}": 1}
            )
            if status != PledgeStatus.CANCELLED:  # the citizen knows they cancelled
                params: dict[str, str | int] = {"reason": note, "serial": p.serial or ""}
                await self.store.jobs.notify(Notice(p.user_key, f"pledge.{status}", params))
        return done

    async def rename(self, serial: str, name: str, by: str, reason: str) -> Pledge | None:
        """Re-issue a certificate with a corrected name (same serial, next edition); the
        citizen gets the new image. None when the serial is unknown or not valid."""
        pledge = await self.by_serial(serial)
        if pledge is None or pledge.status != PledgeStatus.FULFILLED:
            return None
        at = now_iso()

        def step(p: Pledge) -> Pledge | None:
            if p.status != PledgeStatus.FULFILLED or p.name == name:
                return None
            event = Event(at, "reissued", by, reason)
            return replace(p, name=name, edition=p.edition + 1, history=(*p.history, event))

        done = await self.change(pledge.user_key, pledge.id, step)
        if done is None or not done.changed:
            return done.pledge if done else None
        await self.store.pledges.index_name(name_digest(name), serial)
        params: dict[str, str | int] = {"serial": serial}
        notice = Notice(pledge.user_key, "pledge.reissued", params, certificate=serial)
        await self.store.jobs.notify(notice)
        return done.pledge

    async def by_name(self, name: str, limit: int = 50) -> list[Pledge]:
        """The certificates issued to exactly this name (an index of name digests)."""
        serials = await self.store.pledges.serials_of_name(name_digest(name), limit)
        found = [await self.by_serial(s) for s in serials]
        return [p for p in found if p is not None and p.name == name]

    async def nameless(self) -> list[Pledge]:
        """Certificates issued with no name on them (see `nameless_certificates`)."""
        return await nameless_certificates(self.store.pledges)

    async def every(self) -> AsyncIterator[Pledge]:
        """Every pledge of every user (a SCAN: for reports and exports)."""
        async for records in self.store.pledges.every():
            for raw in records:
                yield Pledge.from_json(raw)

    async def anonymise_before(self, cutoff: datetime) -> int:
        """Retention: pledges made before `cutoff` lose their personal fields (the name
        masked, the user id dropped: they move to an anonymous owner per channel and year);
        statuses, trees, serials and the counters stay. A user left with no pledge at a base
        leaves its appeal audience. How many were anonymised."""
        done = 0
        moved: set[tuple[UserKey, str]] = set()
        async for records in self.store.pledges.every():
            for raw in records:
                pledge = Pledge.from_json(raw)
                made = datetime.fromisoformat(pledge.created)
                made = made if made.tzinfo else made.replace(tzinfo=UTC)
                if is_anonymous(pledge.user_key) or made >= cutoff:
                    continue
                owner = UserKey.of(pledge.channel, f"{ANONYMOUS}{self.year_of(pledge.created)}")
                event = Event(now_iso(), "anonymised", "system")
                kept = replace(
                    pledge,
                    user_key=owner,
                    name=mask_name(pledge.name),
                    history=(*pledge.history, event),
                )
                stored = StoredPledge(pledge.user_key, pledge.id, raw)
                digest = name_digest(pledge.name)
                if await self.store.pledges.move(
                    stored, owner, kept.to_json(), pledge.serial or "", digest
                ):
                    done += 1
                    moved.add((pledge.user_key, pledge.base))
        for user, base in moved:
            if all(p.base != base for p in await self.of_user(user)):
                await self.store.pledges.leave_audience(user, base)
        return done

    async def forget(self, user: UserKey) -> list[Pledge]:
        """Delete everything kept about a user (their pledges among it); certificate serials
        stay, marked withdrawn. The pledges that went."""
        pledges = await self.of_user(user)
        issued = {p.serial: name_digest(p.name) for p in pledges if p.serial}
        await self.store.users.forget(
            user, list(issued), sorted({p.base for p in pledges}), [p.id for p in pledges], issued
        )
        return pledges


ANONYMOUS = "anon-"  # the user id of the owner of anonymised pledges: anon-YEAR


def is_anonymous(user: UserKey) -> bool:
    """Whether a pledge's owner is the anonymous one retention gave it."""
    return user.user_id.startswith(ANONYMOUS)


async def nameless_certificates(store: PledgeStore, limit: int = 200) -> list[Pledge]:
    """Certificates issued with no name on them (before names were always asked), to be
    re-issued with one; read without the secret, so `doctor` can ask too."""
    found = []
    for serial in await store.serials_of_name(name_digest(""), limit):
        stored = await store.by_serial(serial)
        pledge = Pledge.from_json(stored.record) if stored else None
        if pledge and pledge.serial == serial and pledge.status == PledgeStatus.FULFILLED:
            found += [pledge] if not pledge.name else []
    return found


def name_digest(name: str) -> str:
    """A name as the certificate index keeps it (a digest, not the name)."""
    return hashlib.sha256(unicodedata.normalize("NFC", name).encode()).hexdigest()[:32]


def _ref(pledge: Pledge) -> str:
    """A pledge as a job's reference: owner and id, a line apart."""
    return f"{pledge.user_key}\n{pledge.id}"
