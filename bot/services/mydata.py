"""Everything kept about a user, for /mydata: every key under their hash tag (found by SCAN, so
nothing is missed), the shared lists that name them, their claims and payment records; as
JSON, and behind a signed link that expires in a day."""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import asdict
from datetime import datetime, tzinfo
from typing import Any, cast

from bot.model import UserKey, immutable
from bot.services import signing
from bot.services.bookings import Bookings
from bot.services.certificates import Certificates
from bot.services.claims import Claims
from bot.services.payments import Payments
from bot.services.pledges import Pledges
from bot.store import Store

PURPOSE = "mydata"
LINK_S = 24 * 3600


_UTC_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(\+00:00|Z)")


def _local_times(value: object, zone: tzinfo) -> object:
    """The download's times in the programme's zone, with their offset (records keep UTC)."""
    if isinstance(value, str) and _UTC_STAMP.fullmatch(value):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(zone).isoformat()
    if isinstance(value, dict):
        return {k: _local_times(v, zone) for k, v in value.items()}
    if isinstance(value, list):
        return [_local_times(v, zone) for v in value]
    return value


def _decoded(value: object) -> object:
    """A stored value with its JSON texts read, so the download is JSON all the way down."""
    if isinstance(value, str):
        try:
            return json.loads(value) if value[:1] in "{[" else value
        except ValueError:
            return value
    if isinstance(value, dict):
        return {str(k): _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


@immutable
class Forgotten:
    """What deleting a user's data did."""

    pledges: int
    claims: int
    certificates: int


class MyData:
    """A user's data: collected, deleted, and the link to download it."""

    def __init__(
        self,
        store: Store,
        pledges: Pledges,
        claims: Claims,
        bookings: Bookings,
        payments: Payments,
        certificates: Certificates,
        secret: str,
        public_base_url: str,
    ) -> None:
        self.store = store
        self.pledges = pledges
        self.claims = claims
        self.bookings = bookings
        self.payments = payments
        self.certificates = certificates
        self.secret = secret
        self.public_base_url = public_base_url
        self.zone = pledges.catalog.timezone  # the download's times are local, with offset

    async def forget(self, user: UserKey, now: int) -> Forgotten:
        """Delete or pseudonymise everything that names the user: their keys, bookings (and
        their places in slots), claims' photos, payment records' owner, team memberships (and
        a team's maker), queued messages, certificate files. Certificate serials stay,
        withdrawn; anonymous counts stay."""
        owned = await self.pledges.of_user(user)
        claims = await self.claims.forget(owned)
        await self.bookings.forget(user, now)
        await self.payments.forget(owned)
        await self.store.teams.forget(user)
        gone = await self.pledges.forget(user)
        await self.store.jobs.forget(user, [p.id for p in gone])
        await self.certificates.forget([p.serial for p in gone if p.serial])
        return Forgotten(len(gone), claims, sum(1 for p in gone if p.serial))

    def link(self, user: UserKey, now: float | None = None) -> str:
        """The download link: the user's key and a signature good for a day."""
        expires = int((now or time.time()) + LINK_S)
        token = signing.sign_until(self.secret, PURPOSE, user, expires)
        encoded = base64.urlsafe_b64encode(user.encode()).decode().rstrip("=")
        return f"{self.public_base_url}/mydata/{encoded}.json?t={token}"

    def user_of(self, encoded: str, token: str) -> UserKey | None:
        """Whose data a link is for, when its signature is ours and fresh."""
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        return UserKey(raw) if signing.valid_until(self.secret, PURPOSE, raw, token) else None

    async def collect(self, user: UserKey) -> dict[str, Any]:
        """Everything kept about the user, JSON-ready."""
        users = self.store.users
        zone = self.zone

        def at(epoch: int) -> str:
            return datetime.fromtimestamp(epoch, zone).isoformat()

        kept = {}
        for key in await users.own_keys(user):
            kept[key.split("}:", 1)[1]] = _decoded(await users.read_key(key))
        pledges = await self.pledges.of_user(user)
        claims = []
        for claim in await self.claims.of_pledges(pledges):
            photo = await self.claims.photo(claim.id) is not None
            claims.append({**asdict(claim), "photo_kept": photo})
        orders = []
        for pledge in pledges:
            found = await self.store.payments.order(pledge.order) if pledge.order else None
            if found is not None:
                order = found[0]
                orders.append(
                    asdict(order) | {"created": at(order.created), "expires": at(order.expires)}
                )
        lists = await users.memberships(user, sorted({p.base for p in pledges}))
        collected = {
            "user": str(user),
            "generated": at(int(time.time())),
            "kept": kept,
            "lists": lists,
            "claims": claims,
            "payments": orders,
            "certificates": [p.serial for p in pledges if p.serial],
        }
        return cast(dict[str, Any], _local_times(collected, self.zone))

    @staticmethod
    def as_json(data: dict[str, Any]) -> bytes:
        """The download: everything, as indented JSON."""
        return json.dumps(data, ensure_ascii=False, indent=1, default=str).encode()
