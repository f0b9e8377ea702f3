"""Claims: a citizen says a pledge is fulfilled and sends a photo; staff approve or reject.

Approving fulfils the pledge (and issues the certificate), even if its deadline passed while the
claim waited; rejecting tells the citizen why and lets them send another photo. A decision is
made once: of two admins deciding one claim at once, one wins and the other is told.
"""

from __future__ import annotations

import time
from dataclasses import replace
from enum import StrEnum
from functools import partial

from bot.catalog import Catalog, Fulfilment
from bot.model import UserKey, immutable
from bot.services import signing
from bot.services.audit import SYSTEM, Actor, Audit
from bot.services.evidence import MAX_PHOTO_BYTES, keep
from bot.services.pledges import Event, Pledge, Pledges, PledgeStatus, now_iso
from bot.store import Store
from bot.store.blobs import Blobs, moving
from bot.store.claims import Claim, ClaimStatus, ClaimStore
from bot.store.jobs import Notice

CLAIMABLE = (Fulfilment.CLAIM, Fulfilment.EVENT_OR_CLAIM)
PHOTO_PURPOSE = "evidence"
LINK_S = 7 * 86400
RESUBMIT_DAYS = 7  # a rejected claim leaves at least this long to send another photo
SHOWN_PER_BASE = 12  # approved photos a base's public page shows, the newest


class Refusal(StrEnum):
    """Why a photo was not taken."""

    TOO_BIG = "too_big"
    NOT_AN_IMAGE = "not_an_image"
    NOTHING_OPEN = "nothing_open"  # no pledge of this user waits for evidence


class Decision(StrEnum):
    """What became of a decision."""

    DONE = "done"
    ALREADY = "already"  # decided before (by someone else, perhaps)
    UNKNOWN = "unknown"
    NEEDS_REASON = "needs_reason"  # a rejection without the reason the citizen is told


@immutable
class Submitted:
    """A claim now waiting for review."""

    claim: Claim
    pledge: Pledge


def photo_name(claim_id: str) -> str:
    """A claim's photo among the blobs."""
    return f"claims/{claim_id}.jpg"


async def read_photo(store: ClaimStore, blobs: Blobs, claim_id: str) -> bytes | None:
    """A claim's photo; one an older version kept in Redis moves to the blobs as it is read,
    with the days it had left."""
    old, retire = partial(store.old_photo, claim_id), partial(store.retire_old_photo, claim_id)
    return await moving(blobs, photo_name(claim_id), old, retire)


class Claims:
    """The claims service: flows, the command line and the console use it."""

    def __init__(
        self,
        store: Store,
        blobs: Blobs,
        catalog: Catalog,
        pledges: Pledges,
        audit: Audit,
        secret: str,
        public_base_url: str,
    ) -> None:
        self.store = store.claims
        self.blobs = blobs
        self.jobs = store.jobs
        self.catalog = catalog
        self.pledges = pledges
        self.audit = audit
        self.secret = secret
        self.public_base_url = public_base_url

    def photo_link(self, claim_id: str, now: float | None = None) -> str:
        """A reviewer's link to a claim's photo, signed, good for a week."""
        expires = int((now or time.time()) + LINK_S)
        token = signing.sign_until(self.secret, PHOTO_PURPOSE, claim_id, expires)
        return f"{self.public_base_url}/evidence/{claim_id}.jpg?t={token}"

    def link_valid(self, claim_id: str, token: str) -> bool:
        """Whether a photo link's token is ours and fresh."""
        return signing.valid_until(self.secret, PHOTO_PURPOSE, claim_id, token)

    async def open_for(self, user: UserKey) -> list[Pledge]:
        """The user's pledges that wait for evidence (none sent, or the last one rejected)."""
        found = []
        for pledge in await self.pledges.of_user(user):
            if pledge.status != PledgeStatus.PLEDGED or pledge.way not in CLAIMABLE:
                continue
            claim = await self.store.get(pledge.claim) if pledge.claim else None
            if claim is None or claim.status == ClaimStatus.REJECTED:
                found.append(pledge)
        return sorted(found, key=lambda p: p.created)

    async def of(self, pledge: Pledge) -> Claim | None:
        """The pledge's current claim, if any."""
        return await self.store.get(pledge.claim) if pledge.claim else None

    async def submit(
        self, user: UserKey, pledge_id: str, photo: bytes, note: str = ""
    ) -> Submitted | Refusal:
        """Take a photo as evidence for a pledge; the claim waits for review."""
        if len(photo) > MAX_PHOTO_BYTES:
            return Refusal.TOO_BIG
        kept = await keep(photo)  # on a thread, two at a time
        if kept is None:
            return Refusal.NOT_AN_IMAGE
        pledge = next((p for p in await self.open_for(user) if p.id == pledge_id), None)
        if pledge is None:
            return Refusal.NOTHING_OPEN
        claim = Claim(
            id=await self.store.next_id(),
            user_key=user,
            pledge_id=pledge.id,
            base=pledge.base,
            form=pledge.form,
            created=now_iso(),
            note=note[:500],
        )
        await self.blobs.put(photo_name(claim.id), kept)  # before the claim can be seen
        await self.store.create(claim, time.time())
        event = Event(claim.created, "claim_submitted", "citizen", f"claim {claim.id}")
        noted = await self.pledges.note(user, pledge.id, event, claim=claim.id)
        return Submitted(claim, noted or pledge)

    async def of_pledges(self, pledges: list[Pledge]) -> list[Claim]:
        """Every claim ever made for these pledges (their histories name them)."""
        ids = [
            e.note.removeprefix("claim ")
            for p in pledges
            for e in p.history
            if e.what == "claim_submitted"
        ]
        return await self.store.records(ids)

    async def forget(self, pledges: list[Pledge]) -> int:
        """Delete the evidence photos of these pledges' claims (their owner deleted their
        data); the decisions stay, anonymous. How many claims there were."""
        claims = await self.of_pledges(pledges)
        for claim in claims:
            await self.blobs.delete(photo_name(claim.id))
        await self.store.forget(claims)
        return len(claims)

    async def drop_old_photos(self, now: float | None = None) -> int:
        """Delete the photos whose time is up (EVIDENCE days after the decision); how many."""
        dropped = 0
        while ending := await self.store.photos_ending(time.time() if now is None else now):
            for claim_id in ending:
                await self.blobs.delete(photo_name(claim_id))
                await self.store.drop_old_photo(claim_id)
                claim = await self.store.get(claim_id)
                if claim is not None:
                    await self.store.unshow(claim.base, claim_id)
            await self.store.photos_ended(ending)
            dropped += len(ending)
        return dropped

    async def let_show(self, user: UserKey, claim_id: str) -> bool:
        """The citizen lets their claim's photo be shown on the base's page once approved
        (asked when they send it; no by default); False for another's claim."""
        claim = await self.store.get(claim_id)
        if claim is None or claim.user_key != user:
            return False
        await self.store.let_show(claim_id)
        return True

    async def shown(self, base: str) -> list[str]:
        """The claims whose photos a base's public page shows, newest first."""
        return await self.store.shown(base, SHOWN_PER_BASE)

    async def shown_photo(self, base: str, claim_id: str) -> bytes | None:
        """A photo a base's page shows (None unless it is listed there and still kept)."""
        if not await self.store.is_shown(base, claim_id):
            return None
        return await self.photo(claim_id)

    async def hold(self, user: UserKey, photo: bytes) -> None:
        """Keep a photo the user just sent until they say which pledge it is for."""
        await self.store.keep_upload(user, photo[: MAX_PHOTO_BYTES + 1])

    async def take_held(self, user: UserKey) -> bytes | None:
        """The photo the user sent (None when an hour has passed), no longer held."""
        return await self.store.take_upload(user)

    async def get(self, claim_id: str) -> Claim | None:
        """One claim, or None."""
        return await self.store.get(claim_id)

    async def photo(self, claim_id: str) -> bytes | None:
        """A claim's photo, while it is kept."""
        return await read_photo(self.store, self.blobs, claim_id)

    async def waiting(self, limit: int = 50) -> list[Claim]:
        """Claims waiting for review, oldest first."""
        return await self.store.records(await self.store.waiting(limit))

    async def decided(self, limit: int = 50) -> list[Claim]:
        """Decided claims, newest decision first."""
        return await self.store.records(await self.store.decided(limit))

    def photo_path(self, claim_id: str, now: float | None = None) -> str:
        """The photo link's path, for pages on this server."""
        return self.photo_link(claim_id, now).removeprefix(self.public_base_url)

    async def decide(
        self, claim_id: str, approve: bool, actor: Actor, reason: str = ""
    ) -> Decision:
        """Approve (fulfil the pledge) or reject (with a reason the citizen is told), once,
        whoever decides and through whichever door; staff's decisions go into the audit log."""
        reason = reason.strip()
        if not approve and not reason:
            return Decision.NEEDS_REASON
        claim = await self.store.get(claim_id)
        if claim is None:
            return Decision.UNKNOWN
        by = str(actor)
        status = ClaimStatus.APPROVED if approve else ClaimStatus.REJECTED
        decided = replace(claim, status=status, decided=now_iso(), decided_by=by, reason=reason)
        ttl = self.catalog.deadlines.evidence_days * 86400
        if claim.status != ClaimStatus.WAITING or not await self.store.decide(decided, ttl):
            return Decision.ALREADY
        if approve:
            note = f"claim {claim.id} approved"
            await self.pledges.fulfil(claim.user_key, claim.pledge_id, by, note, late=True)
            if await self.store.may_show(claim.id):
                await self.store.show(claim.base, claim.id, time.time(), SHOWN_PER_BASE)
        else:
            event = Event(decided.decided, "claim_rejected", by, reason)
            await self.pledges.note(claim.user_key, claim.pledge_id, event)
            again = Event(decided.decided, "extended", str(SYSTEM))
            due = int(time.time()) + RESUBMIT_DAYS * 86400
            await self.pledges.extend(claim.user_key, claim.pledge_id, due, again)
            params: dict[str, str | int] = {"reason": reason}
            await self.jobs.notify(Notice(claim.user_key, "claim.rejected", params))
        what = "claims.approve" if approve else "claims.reject"
        await self.audit.by(actor, what, f"{claim.id} {reason}".strip())
        return Decision.DONE
