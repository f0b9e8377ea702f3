"""The people who run the programme: console accounts, their roles, and logging in; each goes
into the audit log (bot/services/audit.py).

Passwords are hashed with argon2id (argon2-cffi). Roles: `city` (everything), `base:<id>` (that
base's slots, roster, check-in and claims), `reviewer` (claims), `auditor` (reads everything,
changes nothing). Logins are limited per account and address together, so nobody can lock an
account out from everywhere (see `Admins.login`).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import assert_never

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot import i18n
from bot.catalog import Catalog
from bot.errors import CommandError
from bot.model import immutable
from bot.services.audit import Audit
from bot.store import Store
from bot.store.keys import LOGIN_WINDOW_S
from bot.store.records import load_record, stored_form

ACCOUNT_VERSION = 1
MAX_FAILURES = 10  # of one account from one address, in the store's LOGIN_WINDOW_S
MAX_ADDRESS_FAILURES = 50  # of one address on any accounts
GUESS_EVERY_S = 1.0  # an account under attack: one guess a second from addresses that failed
MAX_GUESS_WAIT_S = 5.0  # longer than this in line: refused, try again shortly
MIN_PASSWORD = 10
MAX_NAME = 32
FIRST_ACCOUNT = "admin"


class Section(StrEnum):
    """A part of the console, as roles are allowed into it."""

    DASHBOARD = "dashboard"
    CLAIMS = "claims"
    PAYMENTS = "payments"
    SLOTS = "slots"
    BROADCASTS = "broadcasts"
    CERTIFICATES = "certificates"
    EXPORTS = "exports"
    AUDIT = "audit"
    TEAMS = "teams"


@immutable
class Role:
    """What an account may do: `city`, `base:<id>`, `reviewer` or `auditor`."""

    kind: str
    base: str = ""

    def __str__(self) -> str:
        return f"base:{self.base}" if self.kind == "base" else self.kind

    @classmethod
    def parse(cls, text: str, catalog: Catalog) -> Role:
        """A role as typed; CommandError naming the roles there are."""
        kind, _, base = text.strip().partition(":")
        if kind in ("city", "reviewer", "auditor") and not base:
            return cls(kind)
        if kind == "base" and catalog.base(base) is not None:
            return cls(kind, base)
        known = ", ".join(f"base:{b.id}" for b in catalog.bases)
        raise CommandError(f"unknown role {text!r}; roles: city, reviewer, auditor, {known}")

    @property
    def changes(self) -> bool:
        """Whether the role may change anything (an auditor only reads)."""
        return self.kind != "auditor"

    def enters(self, section: Section) -> bool:
        """Whether the role may open a section of the console."""
        if self.kind in ("city", "auditor"):
            return True
        match section:
            case Section.DASHBOARD | Section.CLAIMS:
                return True
            case Section.SLOTS | Section.EXPORTS | Section.TEAMS:
                return self.kind == "base"
            case Section.PAYMENTS | Section.BROADCASTS | Section.CERTIFICATES | Section.AUDIT:
                return False
            case _:
                assert_never(section)

    def sees(self, base: str) -> bool:
        """Whether the role may see or act on a base's things."""
        return self.kind != "base" or base == self.base


@immutable
class Account:
    """A console account."""

    name: str
    role: str
    password_hash: str
    created: str
    disabled: bool = False
    v: int = ACCOUNT_VERSION

    def to_json(self) -> str:
        """The stored form."""
        return stored_form(self)

    @classmethod
    def from_json(cls, raw: str) -> Account:
        """Read a stored record."""
        return load_record(cls, json.loads(raw), ACCOUNT_VERSION)


class LoginRefusal(StrEnum):
    """Why a login was refused."""

    WRONG = "wrong"  # unknown name or wrong password: the same answer for both
    DISABLED = "disabled"
    TOO_MANY = "too_many"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Admins:
    """Accounts and logins, each change and login in the audit log."""

    def __init__(self, store: Store, catalog: Catalog, audit: Audit) -> None:
        self.store = store.admins
        self.catalog = catalog
        self.audit = audit
        self.hasher = PasswordHasher()  # argon2id, the library's recommended parameters

    def role_of(self, account: Account) -> Role:
        """An account's role (a base since removed from the catalogue reads as no base)."""
        kind, _, base = account.role.partition(":")
        return Role(kind, base)

    async def get(self, name: str) -> Account | None:
        """One account, or None."""
        raw = await self.store.account(name)
        return Account.from_json(raw) if raw else None

    async def all(self) -> list[Account]:
        """Every account, by name."""
        found = await self.store.accounts()
        return [Account.from_json(found[name]) for name in sorted(found)]

    def role_words(self, role: Role, locale: str) -> str:
        """A role in words (城市管理员, 基地管理员 · 金匮公园)."""
        kind = i18n.word("role", role.kind, locale)
        return f"{kind} · {self.catalog.base_name(role.base, locale)}" if role.base else kind

    async def add(self, name: str, role: str, password: str, by: str) -> Account:
        """A new account; CommandError when the name, role or password will not do."""
        name = name.strip()
        if (
            not name
            or len(name) > MAX_NAME
            or not name.replace("-", "").replace("_", "").isalnum()
        ):
            raise CommandError(f"a name is 1-{MAX_NAME} letters, digits, - or _")
        parsed = Role.parse(role, self.catalog)
        account = Account(name, str(parsed), self._hash(password), _now())
        if not await self.store.create_account(name, account.to_json()):
            raise CommandError(f"there is already an account {name!r}")
        await self.audit.record(by, "admins.add", f"{name} {parsed}")
        return account

    def _hash(self, password: str) -> str:
        if len(password) < MIN_PASSWORD:
            raise CommandError(f"a password has at least {MIN_PASSWORD} characters")
        return self.hasher.hash(password)

    async def _change(self, name: str, by: str, what: str, **fields: object) -> Account:
        account = await self.get(name)
        if account is None:
            raise CommandError(f"there is no account {name!r}")
        changed = replace(account, **fields)  # type: ignore[arg-type]
        await self.store.save_account(name, changed.to_json())
        await self.audit.record(by, what, name)
        return changed

    async def disable(self, name: str, by: str) -> Account:
        """Disable an account: it can no longer log in, and its sessions end at their next
        request."""
        return await self._change(name, by, "admins.disable", disabled=True)

    async def reset_password(self, name: str, password: str, by: str) -> Account:
        """Give an account a new password (and enable it again)."""
        hashed = self._hash(password)
        return await self._change(
            name, by, "admins.reset_password", password_hash=hashed, disabled=False
        )

    async def bootstrap(self, password: str | None) -> bool:
        """With ADMIN_PASSWORD set and no account yet, create the first `city` account named
        `admin`; whether it did."""
        if not password or await self.store.any_account():
            return False
        account = Account(FIRST_ACCOUNT, "city", self._hash(password), _now())
        if not await self.store.create_account(FIRST_ACCOUNT, account.to_json()):
            return False
        await self.audit.record("system", "admins.bootstrap", FIRST_ACCOUNT)
        return True

    async def login(self, name: str, password: str, address: str) -> Account | LoginRefusal:
        """Check a login. Failures lock an account for one address at a time (MAX_FAILURES
        in the window), and an address that fails on many accounts; an account failing from
        several addresses takes, from an address that has failed on it, one guess a second,
        while the right password from another address goes through at once."""
        name = name[:MAX_NAME]
        counted = (f"pair:{name}|{address}", f"acct:{name}", f"addr:{address}")
        pair, account_key, _ = counted
        pair_n, account_n, address_n = await self.store.failures(*counted)
        if pair_n >= MAX_FAILURES or address_n >= MAX_ADDRESS_FAILURES:
            await self.audit.refused(name, "login.refused", "too many failures", address)
            return LoginRefusal.TOO_MANY
        if account_n >= MAX_FAILURES and pair_n:  # under attack, and this address guessed
            wait = await self.store.next_guess(account_key, time.time(), GUESS_EVERY_S)
            if wait > MAX_GUESS_WAIT_S:
                await self.audit.refused(name, "login.refused", "guessing too fast", address)
                return LoginRefusal.TOO_MANY
            await asyncio.sleep(wait)
        account = await self.get(name)
        if account is None or not self._matches(account, password):
            return await self._failed(name, address, counted)
        if account.disabled:
            await self.audit.record(name, "login.refused", "disabled", address)
            return LoginRefusal.DISABLED
        await self.store.forgive(pair)
        if self.hasher.check_needs_rehash(account.password_hash):
            rehashed = replace(account, password_hash=self.hasher.hash(password))
            await self.store.save_account(name, rehashed.to_json())
        await self.audit.record(name, "login", "", address)
        return account

    async def _failed(self, name: str, address: str, counted: tuple[str, ...]) -> LoginRefusal:
        """A wrong password (or no such account): counted; the first time an account reaches
        MAX_FAILURES the audit log says it is under attack."""
        _, account_n, _ = await self.store.fail(*counted)
        if account_n == MAX_FAILURES:
            said = f"{MAX_FAILURES} failures in {LOGIN_WINDOW_S // 60} minutes: guesses slowed"
            await self.audit.record(name, "login.attack", said, address)
        await self.audit.refused(name, "login.failed", "", address)
        return LoginRefusal.WRONG

    def _matches(self, account: Account, password: str) -> bool:
        try:
            return self.hasher.verify(account.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
