"""Who acts, and the audit log of what staff did.

An `Actor` is whoever changes a record: a citizen, a console login, someone at the terminal, an
admin in a chat, a payment, the system. Histories record it as a string (`console:wang`,
`cli:root`, `admin:telegram:42`, `payment:4200001`, `citizen`, `system`: the forms histories
have always had). What staff do goes into the audit log whichever door they came through.

The log keeps AUDIT_KEEP_DAYS (a year by default), trimmed as it grows. What strangers are
refused (a login without its token, a wrong password) is counted per address and minute: an
entry for the first of a minute, and one each time the count reaches 10, 100, 1,000..., so a
flood leaves a handful of entries that show its size, not one entry a request.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from enum import StrEnum

from bot.model import immutable
from bot.store.admins import AdminStore

MAX_DETAIL = 500
DEFAULT_KEEP_DAYS = 365  # AUDIT_KEEP_DAYS


class ActorKind(StrEnum):
    """The doors a change comes through."""

    CITIZEN = "citizen"
    CONSOLE = "console"  # id: the login
    CLI = "cli"  # id: the user at the terminal
    CHAT_ADMIN = "admin"  # id: the admin's user key in a chat (TELEGRAM_ADMIN_IDS, ...)
    PAYMENT = "payment"  # id: the payment's transaction or receipt
    SYSTEM = "system"


@immutable
class Actor:
    """Who does something, and for a console login the address it acts from."""

    kind: ActorKind
    id: str = ""
    address: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}" if self.id else str(self.kind)

    @property
    def is_staff(self) -> bool:
        """Whether the audit log records what this actor does."""
        return self.kind in (ActorKind.CONSOLE, ActorKind.CLI, ActorKind.CHAT_ADMIN)

    @property
    def audit_name(self) -> str:
        """Who, as the audit log names them (a console login by its name alone)."""
        return self.id if self.kind == ActorKind.CONSOLE else str(self)

    @classmethod
    def console(cls, login: str, address: str = "") -> Actor:
        """A console login acting from an address."""
        return cls(ActorKind.CONSOLE, login, address)

    @classmethod
    def cli(cls, user: str) -> Actor:
        """Someone at the terminal."""
        return cls(ActorKind.CLI, user)

    @classmethod
    def chat_admin(cls, user_key: str) -> Actor:
        """An admin in a chat."""
        return cls(ActorKind.CHAT_ADMIN, user_key)


CITIZEN = Actor(ActorKind.CITIZEN)
SYSTEM = Actor(ActorKind.SYSTEM)


class Audit:
    """The audit log (a Redis stream): who, what, when, from where."""

    def __init__(self, store: AdminStore, keep_days: int = DEFAULT_KEEP_DAYS) -> None:
        self.store = store
        self.keep_ms = max(keep_days, 1) * 86_400_000

    async def record(self, who: str, what: str, detail: str = "", where: str = "") -> None:
        """Append an action to the audit log."""
        at = datetime.now(UTC).isoformat(timespec="seconds")
        entry = {"at": at, "who": who, "what": what, "detail": detail[:MAX_DETAIL], "where": where}
        await self.store.append_audit(entry, self.keep_ms)

    async def refused(self, who: str, what: str, detail: str, address: str) -> None:
        """A stranger refused (no session: a login without its token, a wrong password):
        counted per address and minute, written when the count is 1, 10, 100..."""
        minute = int(time.time() // 60)
        count = await self.store.count_refusal(address, what, minute)
        if _power_of_ten(count):
            said = detail if count == 1 else f"{detail} ({count} times this minute)".lstrip()
            await self.record(who, what, said, address)

    async def by(self, actor: Actor, what: str, detail: str = "") -> None:
        """Append what staff did (nothing for citizens, payments and the system)."""
        if actor.is_staff:
            await self.record(actor.audit_name, what, detail, actor.address)

    async def entries(
        self, count: int = 100, before: str = "+"
    ) -> list[tuple[str, dict[str, str]]]:
        """The newest entries (before an entry id, for the next page)."""
        return await self.store.audit_entries(count, before)


def _power_of_ten(count: int) -> bool:
    while count % 10 == 0 and count > 1:
        count //= 10
    return count == 1
