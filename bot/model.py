"""Values that cross the engine's edges: the inbound Turn and the replies going out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias, TypeVar, dataclass_transform

Param: TypeAlias = "str | int | Msg | When | tuple[Msg, ...]"  # a tuple renders one per line
V = TypeVar("V")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def immutable(cls: type[V]) -> type[V]:
    """A value type: a dataclass with slots, hashable by its fields, frozen to the type checker
    (`mypy --strict`, which CI runs, refuses an assignment to a field as for `frozen=True`) and
    set by a plain `__init__` at run time: a frozen dataclass sets each field through
    `object.__setattr__`, which cost a tenth of an engine turn's instructions."""
    return dataclass(slots=True, unsafe_hash=True)(cls)


class Channel(StrEnum):
    """The channels a user talks through (a UserKey's first part)."""

    TELEGRAM = "telegram"
    WECHAT = "wechat"
    WEB = "web"
    SHELL = "shell"


class UserKey(str):
    """A user's identity across the store: `channel:platform id` (`telegram:42`, `wechat:oAb`)."""

    __slots__ = ()

    @classmethod
    def of(cls, channel: str, user_id: str) -> UserKey:
        """The key of `user_id` on `channel`."""
        return cls(f"{channel}:{user_id}")

    @property
    def channel(self) -> str:
        """The channel: telegram, wechat, web, shell..."""
        return self.partition(":")[0]

    @property
    def user_id(self) -> str:
        """The platform's id of the user (chat id, openid, visitor id...)."""
        return self.partition(":")[2]


class Delivery(StrEnum):
    """How a push went."""

    SENT = "sent"  # the platform took it (a chat message)
    SUBSCRIPTION = "subscription"  # sent as a WeChat subscription notification (after 48 hours)
    NOTED = "noted"  # kept as a note, shown at the user's next message
    BLOCKED = "blocked"  # the user blocked the bot; they are unsubscribed
    UNREACHABLE = "unreachable"  # there is no way to this user from here
    OUTSIDE_WINDOW = "outside_window"  # WeChat's 48 hours since the user's last message are over
    FAILED = "failed"  # the platform refused, or kept failing


@immutable
class When:
    """A time span (epoch seconds) to show in the reader's language, in time zone `zone`."""

    start: int
    end: int
    zone: str


def image_type(data: bytes) -> str:
    """ "jpeg" or "png", as an image's first bytes say (the bot sends no other kind)."""
    return "jpeg" if data.startswith(b"\xff\xd8") else "png"


def N_(key: str) -> str:
    """Mark a message key for extraction (`pybabel extract -k N_`); returns it unchanged."""
    return key


@immutable
class Msg:
    """A translatable text: a gettext key and the values for its `{placeholders}`
    (which may be translatable texts themselves)."""

    key: str
    params: Mapping[str, Param] = field(default_factory=dict)


@immutable
class Choice:
    """One answer the user can pick: a short stable id and its label (a key or literal text)."""

    id: str
    label: Msg | str


@immutable
class Attachment:
    """A file sent along (a user's data as JSON): a document on Telegram; elsewhere the text
    carries a link to it."""

    name: str
    data: bytes = field(repr=False)


@immutable
class Reply:
    """What a step says: text, optional choices and optional certificate (by serial).
    `numeric`: the question asks for a number, so a typed number is a value, not a choice index."""

    text: Msg
    choices: tuple[Choice, ...] = ()
    certificate: str | None = None
    numeric: bool = False
    photo: str | None = None  # a claim whose evidence photo goes along (for reviewers)
    qr: str = ""  # text to show as a QR code beside it (a check-in code)
    place: str = ""  # a base whose address, hours, transport and map link go along
    picture_of: str = ""  # a base whose picture goes along
    attachment: Attachment | None = None
    offer_updates: bool = False  # a good moment to offer notices for later (WeChat)
    forgotten: bool = False  # the user's data is gone: the session is not saved, transcripts go
    poster: str | None = None  # a certificate (by serial) whose share poster goes along


@immutable
class Turn:
    """One inbound message, already translated from the platform by a channel adapter."""

    channel: str
    user_id: str
    text: str = ""
    choice_id: str | None = None
    message_id: str | None = None
    locale: str | None = None
    display_name: str | None = None
    is_admin: bool = False
    unsupported: bool = False  # a sticker, voice...: something the bot cannot read
    photo: bytes | None = field(default=None, repr=False)  # a photo sent (evidence)
    oversized: bool = False  # a photo too big to take (over 5 MB)

    @property
    def user_key(self) -> UserKey:
        """The user's identity across the store: channel and platform id."""
        return UserKey.of(self.channel, self.user_id)


@immutable
class Button:
    """A rendered choice: the id to send back and the label in the user's language."""

    id: str
    label: str


@immutable
class Venue:
    """Where a base is: a pin for Telegram (sendVenue), and the map link the text carries."""

    base: str  # the base's id
    title: str
    address: str
    lat: float
    lon: float
    link: str


@immutable
class Brief:
    """A notice in a few short fields, for platforms that deliver notices as a form (WeChat's
    subscription notifications): its kind (`reminder`, `result`), what it is about, when
    (local `YYYY-MM-DD HH:MM`), its state and a note."""

    kind: str
    subject: str
    when: str = ""
    state: str = ""
    note: str = ""


@immutable
class Message:
    """A rendered reply, ready for a channel to lay out; `image` is a PNG sent along (an
    appeal's), `certificate` a serial whose image goes along."""

    text: str
    buttons: tuple[Button, ...] = ()
    certificate: str | None = None
    image: bytes | None = field(default=None, repr=False)
    typed: str = ""  # for a number question: how to answer by typing, in place of a numbered list
    locale: str = ""  # the language it was rendered in
    venue: Venue | None = None  # where a base is (its lines are in the text too)
    attachment: Attachment | None = None
    brief: Brief | None = None  # the notice as a form, where a platform needs one
    offer_updates: bool = False  # a good moment to offer notices after the chat window closes
    forgotten: bool = False  # the user's data was deleted: a kept transcript goes too
    image_name: str = ""  # a picture many are sent (`base:ID`, `appeal:ID`): uploaded once
    poster: str | None = None  # the share poster of this certificate (serial) is the image


@immutable
class Answer:
    """The user's answer to the current question: the matched choice id, if any, and the text."""

    text: str
    choice_id: str | None = None


@immutable
class Next:
    """Continue the flow at `step` (its question is asked next); `before` is said first."""

    step: str
    before: tuple[Reply, ...] = ()


@immutable
class Again:
    """The answer did not fit: say `hint` and ask the same question again."""

    hint: Msg


@immutable
class End:
    """The flow is over: say these replies and return to the main menu.
    `locale` switches the user's language from now on."""

    replies: tuple[Reply, ...] = field(default=())
    locale: str | None = None


@immutable
class Switch:
    """Leave this flow for another, started with `seed` in its data; `before` is said first."""

    flow: str
    seed: Mapping[str, str] = field(default_factory=dict)
    before: tuple[Reply, ...] = ()


Outcome = Next | Again | End | Switch
