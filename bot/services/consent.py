"""Consent as PIPL asks: the privacy notice agreed to (which version, when), a self-declared
age group asked once, and a guardian's consent for a child under 14 before any name is kept.

The duty is for ages 11 to 60 (women to 55; the catalogue says so): people of duty age get the
duty certificate (尽责证书), everyone else who takes part the honorary one (荣誉证书). The groups
are chosen so that no exact age and, below 56, no sex is asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum

import orjson

from bot.catalog import Localized
from bot.model import UserKey, immutable
from bot.store import Store
from bot.store.records import load_record, stored_form

NOTICE_VERSION = (
    1  # raise when the notice (locales: privacy.notice, templates/privacy.html) changes
)
CONSENT_VERSION = 1  # of the stored record
GUARDIAN_BELOW = 14  # PIPL art. 28, 31: a child's data is sensitive; a guardian consents


class AgeGroup(StrEnum):
    """A self-declared age group (a contract: stored and exported)."""

    CHILD = "child"  # under the duty age (11)
    YOUNG = "young"  # duty age, under 14: a guardian consents
    ADULT = "adult"  # 14 to the women's upper age (55)
    OLDER_MAN = "older_man"  # a man above the women's upper age, up to 60
    SENIOR = "senior"  # above the duty age (women over 55, men over 60)

    @property
    def on_duty(self) -> bool:
        """Whether the yearly duty applies: the duty certificate, not the honorary one."""
        return self in (AgeGroup.YOUNG, AgeGroup.ADULT, AgeGroup.OLDER_MAN)

    @property
    def needs_guardian(self) -> bool:
        """Under 14: a guardian consents before any name is kept."""
        return self in (AgeGroup.CHILD, AgeGroup.YOUNG)


class Question(StrEnum):
    """What consent may still need: the notice, the age group, a guardian's agreement."""

    NOTICE = "privacy_notice"  # the values name the flow steps that ask them
    AGE = "age_group"
    GUARDIAN = "guardian"


@immutable
class Consent:
    """What a user agreed to: the notice version and when, their age group, a guardian's
    consent (when), all in ISO 8601 UTC."""

    notice: int = 0
    agreed_at: str = ""
    age: str = ""
    guardian_at: str = ""
    v: int = CONSENT_VERSION

    @property
    def current(self) -> bool:
        """Agreed to the notice in force."""
        return self.notice >= NOTICE_VERSION

    @property
    def age_group(self) -> AgeGroup | None:
        """The declared group, None until asked."""
        return AgeGroup(self.age) if self.age in AgeGroup.__members__.values() else None

    @property
    def missing(self) -> Question | None:
        """The first thing still to ask before a name may be kept, None when nothing is."""
        group = self.age_group
        if not self.current:
            return Question.NOTICE
        if group is None:
            return Question.AGE
        if group.needs_guardian and not self.guardian_at:
            return Question.GUARDIAN
        return None

    @property
    def complete(self) -> bool:
        """Nothing left to ask before a name may be kept."""
        return self.missing is None

    def to_json(self) -> str:
        """The stored form."""
        return stored_form(self)

    def changed(self, changes: Changes) -> Consent:
        """The record with `changes` made."""
        return replace(self, **changes)  # type: ignore[arg-type]


_EMPTY = Consent().to_json()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Consents:
    """Read and record a user's consent."""

    def __init__(self, store: Store, operator: Localized, public_base_url: str) -> None:
        self.store = store
        self.operator = operator  # named in the notice, in the reader's language
        self.public_base_url = public_base_url

    def notice_link(self, locale: str) -> str:
        """The full notice's address, in a language."""
        return f"{self.public_base_url}/privacy?lang={locale}"

    async def of(self, user: UserKey) -> Consent:
        """The user's consent record (empty when none was given)."""
        return from_record(await self.store.users.consent(user))

    async def change(self, user: UserKey, changes: Changes) -> Consent:
        """Change the record (`agreeing()`, `declaring(group)`, `guardian_agreeing()`) in one
        round trip; a record of an older version is first migrated here, then written whole.
        (A conversation's changes are merged with the turn's save, and come here only for
        such a record.)"""
        users = self.store.users
        merged = await users.merge_consent(user, *merge_request(changes))
        if merged is not None:
            return _loaded(merged)
        consent = (await self.of(user)).changed(changes)
        await users.set_consent(user, consent.to_json())
        return consent


Changes = Mapping[str, str | int]


def agreeing() -> Changes:
    """The changes of agreeing now to the notice in force."""
    return {"notice": NOTICE_VERSION, "agreed_at": _now()}


def declaring(group: AgeGroup) -> Changes:
    """The changes of declaring an age group."""
    return {"age": str(group)}


def guardian_agreeing() -> Changes:
    """The changes of a guardian agreeing now."""
    return {"guardian_at": _now()}


def merge_request(changes: Changes) -> tuple[str, int, str]:
    """Changes as the store merges them: as JSON, with the version written today and the
    record to start from when there is none."""
    return orjson.dumps(changes).decode(), CONSENT_VERSION, _EMPTY


def from_record(raw: str | None) -> Consent:
    """A stored consent record as it reads today (empty when none was given)."""
    return _loaded(raw) if raw else Consent()


def _loaded(raw: str) -> Consent:
    """A stored consent record, migrated to today's version (refused when newer)."""
    return load_record(Consent, orjson.loads(raw), CONSENT_VERSION)
