"""handle(turn) -> messages: lock the user, load the session, run one step, save, unlock.

The engine knows no platform. It owns what every flow shares: commands, the main menu, back and
cancel, matching typed text to the offered choices, stale buttons, and rendering in the user's
language.
"""

from __future__ import annotations

import contextlib
import json
import logging
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, assert_never

import orjson

from bot import i18n
from bot.errors import StaleStateError, StoreError
from bot.flow import Ctx, Flow
from bot.logs import user_hash
from bot.model import (
    N_,
    Again,
    Answer,
    Button,
    Choice,
    End,
    Message,
    Msg,
    Next,
    Outcome,
    Reply,
    Switch,
    Turn,
)
from bot.render.qr import qr_png
from bot.services import Services, places
from bot.services.consent import merge_request
from bot.store import Store
from bot.store.keys import FIRST_SESSION_TTL, SESSION_TTL
from bot.store.turns import Ended

log = logging.getLogger(__name__)

SESSION_VERSION = 1
MAX_TEXT = 4096  # longer input is cut before matching; no answer needs more
Keeper = Callable[[list[Message]], str]  # a turn's answer as its platform shows it ("": none)

BACK = Choice("nav:back", Msg(N_("nav.back")))
CANCEL = Choice("nav:cancel", Msg(N_("nav.cancel")))
ACTION = "act:"
JOIN_LINK = "join-"  # /start's payload from a team's Telegram link: join-CODE
MENU = (
    Choice("menu:pledge", Msg(N_("menu.pledge"))),
    Choice("menu:book", Msg(N_("menu.book"))),
    Choice("menu:mine", Msg(N_("menu.mine"))),
    Choice("menu:bookings", Msg(N_("menu.bookings"))),
    Choice("menu:lang", Msg(N_("menu.lang"))),
    Choice("menu:help", Msg(N_("menu.help"))),
)


@dataclass(slots=True)
class Session:
    """A user's conversation state, kept in Redis between turns."""

    locale: str | None = None
    flow: str | None = None
    step: str | None = None
    history: list[str] = field(default_factory=list)
    data: dict[str, Any] | None = None
    choices: list[list[str]] = field(default_factory=list)  # [[id, label], ...] last offered
    numeric: bool = False  # the last question asked for a number
    turns: int = 0  # how many turns the conversation has had
    v: int = SESSION_VERSION

    @classmethod
    def load(cls, raw: str | None) -> Session:
        """The stored session; anything unreadable or of another version starts afresh."""
        try:
            value = orjson.loads(raw) if raw else {}
            return cls(**value) if value.get("v") == SESSION_VERSION else cls()
        except (ValueError, TypeError, AttributeError):  # AttributeError: not a JSON object
            return cls()

    def dump(self) -> bytes:
        """The stored form, as UTF-8 JSON (Redis keeps bytes: no decoding into text to be
        encoded again when sent)."""
        return orjson.dumps(self)

    def leave_flow(self) -> None:
        """Forget the running flow (the language choice stays)."""
        self.flow, self.step, self.history, self.data = None, None, [], None


def normalise(text: str) -> str:
    """Text folded for matching: NFKC, case-folded, letters and digits only (no spaces, no
    punctuation, no emoji), so "取消" matches the label "✖ 取消"."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in folded if unicodedata.category(c)[0] in "LN")


def match_choice(text: str, offered: Sequence[Sequence[str]], numeric: bool = False) -> str | None:
    """The id of the offered choice that typed `text` names: the whole label, its number in the
    list (unless the question asks for a number) or a part of one label only."""
    wanted = normalise(text)
    if not wanted:
        return None
    labels = [(choice_id, normalise(label)) for choice_id, label in offered]
    exact = [cid for cid, label in labels if label == wanted]
    if exact:
        return exact[0]
    if numeric:
        return None
    if wanted.isdigit() and 1 <= int(wanted) <= len(labels):
        return labels[int(wanted) - 1][0]
    partial = [cid for cid, label in labels if len(wanted) >= 2 and wanted in label]
    return partial[0] if len(partial) == 1 else None


class Engine:
    """Runs turns. One engine serves every channel and any number of users at once."""

    def __init__(
        self,
        store: Store,
        services: Services,
        flows: Mapping[str, Flow[Any]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        public_base_url: str = "",
    ) -> None:
        self.turns = store.turns
        self.users = store.users
        self.services = services
        self.shared = services.shared()  # the services by name, as every turn's Ctx takes them
        self.flows = flows
        self.clock = clock
        self.public_base_url = public_base_url  # for short links (a base's map)

    async def handle(self, turn: Turn, keep: Keeper | None = None) -> list[Message]:
        """Answer one turn; a message id seen before gets no answer and changes nothing. A
        channel whose platform retries a message for its answer gives `keep`: the answer as
        that platform shows it, kept with the turn's save for the retries."""
        lease = await self.turns.begin_turn(turn.user_key, turn.message_id)
        if lease is None:
            return []
        changes: dict[str, str | int] = {}  # to the consent record, saved with the session
        try:
            session = Session.load(lease.session)
            try:
                replies = await self._run(_clip(turn), session, lease.consent, changes)
            except StaleStateError:
                log.warning("stale conversation data dropped; user %s", user_hash(turn.user_key))
                session.leave_flow()
                replies = [self._menu(Msg(N_("nav.expired")))]
            locale = session.locale or i18n.DEFAULT_LOCALE
            notes = [_note(note) for note in lease.notes]  # left for the user meanwhile
            photos = {
                r.photo: await self.services.claims.photo(r.photo) for r in replies if r.photo
            }
            messages = await self._with_certificates(
                notes
                + [
                    self._render(r, locale, photos.get(r.photo) if r.photo else None)
                    for r in replies
                ]
            )
            asked = next((r for r in reversed(replies) if r.choices), None)
            session.numeric = asked.numeric if asked else False
            session.choices = [[b.id, b.label] for b in _last_buttons(messages)]
            session.turns += 1
            forgotten = any(r.forgotten for r in replies)  # deleted: nothing naming them is saved
            reply = keep(messages) if keep is not None and not forgotten else ""
        except BaseException:
            with contextlib.suppress(StoreError):  # Redis down: the lock's TTL frees the user
                await self.turns.release(lease)
            raise
        if forgotten:
            await self.turns.release(lease)
            return messages
        ttl = SESSION_TTL if session.turns > 1 else FIRST_SESSION_TTL  # a drive-by visit
        consent = merge_request(changes) if changes else None
        ended = await self.turns.end_turn(lease, session.dump(), ttl, consent, reply)
        if ended == Ended.EXPIRED:
            log.warning("turn lock expired before saving; user %s", user_hash(turn.user_key))
        elif ended == Ended.CONSENT_LEFT:  # a record of an older version: migrated, then merged
            await self.services.consents.change(turn.user_key, changes)
        return messages

    async def _run(
        self, turn: Turn, session: Session, consent: str | None, changes: dict[str, str | int]
    ) -> list[Reply]:
        session.locale = session.locale or i18n.locale_for(turn.locale)
        ctx = Ctx(
            **self.shared,
            turn=turn,
            locale=session.locale,
            now=self.clock(),
            consent_record=consent,
            consent_changes=changes,
        )
        if turn.unsupported:
            return [Reply(Msg(N_("nav.unsupported"))), *await self._question(ctx, session)]
        if turn.oversized:
            return [Reply(Msg(N_("evidence.too_big"))), *await self._question(ctx, session)]
        if turn.photo == b"":  # an empty file, or one the platform would not give us
            return [Reply(Msg(N_("evidence.not_an_image"))), *await self._question(ctx, session)]
        if turn.photo is not None:  # evidence for a claim: held until it has its pledge
            await self.services.claims.hold(ctx.user, turn.photo)
            return await self._start(ctx, session, "evidence", {"note": turn.text.strip()})
        command = _command(turn.text) if turn.choice_id is None else None
        if command is not None:
            return await self._command(ctx, session, command)
        offered = session.choices
        if turn.choice_id is not None and turn.choice_id.startswith(ACTION):
            return await self._action(ctx, session, turn.choice_id)
        if turn.choice_id is not None:
            if turn.choice_id not in {cid for cid, _ in offered}:
                return [Reply(Msg(N_("nav.stale"))), *await self._question(ctx, session)]
            choice_id: str | None = turn.choice_id
        else:
            choice_id = match_choice(turn.text, offered, numeric=session.numeric)
        return await self._answer(ctx, session, Answer(turn.text.strip(), choice_id))

    async def _answer(self, ctx: Ctx, session: Session, answer: Answer) -> list[Reply]:
        if answer.choice_id == BACK.id:
            return await self._back(ctx, session)
        if answer.choice_id == CANCEL.id:
            session.leave_flow()
            return [self._menu(Msg(N_("nav.cancelled")))]
        if answer.choice_id and answer.choice_id.startswith("menu:"):
            return await self._start(ctx, session, answer.choice_id.removeprefix("menu:"))
        if session.flow is None or session.step is None:
            return [self._menu(Msg(N_("menu.unknown")))]
        flow = self.flows[session.flow]
        data = flow.load_data(session.data)
        outcome = await flow.steps[session.step].answer(ctx, data, answer)
        session.data = flow.dump_data(data)
        return await self._follow(ctx, session, outcome)

    async def _command(self, ctx: Ctx, session: Session, command: str) -> list[Reply]:
        if command == "start":
            await self.users.subscribe(ctx.user)
            session.leave_flow()
            payload = _argument(ctx.turn.text)  # a deep link: t.me/BOT?start=join-CODE
            if payload.startswith(JOIN_LINK) and "join" in self.flows:
                arg = {"arg": payload.removeprefix(JOIN_LINK)}
                return [
                    Reply(Msg(N_("start.welcome"))),
                    *await self._start(ctx, session, "join", arg),
                ]
            return [self._menu(Msg(N_("start.welcome")))]
        if command == "cancel":
            session.leave_flow()
            return [self._menu(Msg(N_("nav.cancelled")))]
        if command == "stop":  # no more appeals; /start subscribes again
            await self.users.unsubscribe(ctx.user)
            session.leave_flow()
            return [self._menu(Msg(N_("start.stopped")))]
        if command == "back":
            return await self._back(ctx, session)
        if command == "resume":  # a channel reconnecting: carry on where the user left off
            if session.flow is None:
                return [self._menu(Msg(N_("start.welcome")))]
            return [Reply(Msg(N_("nav.resumed"))), *await self._question(ctx, session)]
        if command in self.flows:  # every flow is a command: /pledge, /mine, /join CODE...
            return await self._start(ctx, session, command, {"arg": _argument(ctx.turn.text)})
        return [self._menu(Msg(N_("menu.unknown_command"), {"command": command[:32]}))]

    async def _action(self, ctx: Ctx, session: Session, choice_id: str) -> list[Reply]:
        """A button sent outside the conversation (a reminder's, say): `act:FLOW:ARG` starts
        that flow with the argument, whatever was asked last. The flow checks the argument."""
        _, name, arg = [*choice_id.split(":", 2), "", ""][:3]
        if name not in self.flows:
            return [Reply(Msg(N_("nav.stale"))), *await self._question(ctx, session)]
        return await self._start(ctx, session, name, {"arg": arg})

    async def _start(
        self, ctx: Ctx, session: Session, name: str, seed: Mapping[str, str] | None = None
    ) -> list[Reply]:
        flow = self.flows[name]
        session.leave_flow()
        session.flow = name
        data = flow.new_data(seed)
        outcome = await flow.begin(ctx, data)
        session.data = flow.dump_data(data)
        return await self._follow(ctx, session, outcome)

    async def _follow(self, ctx: Ctx, session: Session, outcome: Outcome) -> list[Reply]:
        match outcome:
            case Next():
                if session.step is not None and not self._once(session):
                    session.history.append(session.step)
                session.step = outcome.step
                return [*outcome.before, *await self._question(ctx, session)]
            case Again():
                return [Reply(outcome.hint), *await self._question(ctx, session)]
            case Switch():
                before = outcome.before
                return [*before, *await self._start(ctx, session, outcome.flow, outcome.seed)]
            case End():
                session.leave_flow()
                if outcome.locale is not None:
                    session.locale = outcome.locale
                return _with_menu(outcome, self._menu(Msg(N_("menu.next"))))
            case _:
                assert_never(outcome)

    def _once(self, session: Session) -> bool:
        """Whether the current step is one back does not return to."""
        steps = self.flows[session.flow].steps if session.flow else {}
        step = steps.get(session.step or "")
        return step is not None and step.once

    async def _back(self, ctx: Ctx, session: Session) -> list[Reply]:
        if not session.history:
            session.leave_flow()
            return [self._menu(Msg(N_("menu.prompt")))]
        session.step = session.history.pop()
        return await self._question(ctx, session)

    async def _question(self, ctx: Ctx, session: Session) -> list[Reply]:
        """The current question again: the flow's step with back and cancel, or the menu."""
        if session.flow is None or session.step is None:
            return [self._menu(Msg(N_("menu.prompt")))]
        flow = self.flows[session.flow]
        reply = await flow.steps[session.step].ask(ctx, flow.load_data(session.data))
        return [replace(reply, choices=(*reply.choices, BACK, CANCEL))]

    async def _with_certificates(self, messages: list[Message]) -> list[Message]:
        """Each certificate's image (or share poster) attached as chats show it (channels only
        send bytes; the web chat links the serial instead)."""
        certificates = self.services.certificates
        attached = []
        for m in messages:
            if m.poster and m.image is None:
                m = replace(m, image=await certificates.poster(m.poster))
            elif m.certificate and m.image is None:
                m = replace(m, image=await certificates.chat_image(m.certificate))
            attached.append(m)
        return attached

    @staticmethod
    def _menu(text: Msg) -> Reply:
        return Reply(text, MENU)

    def _render(self, reply: Reply, locale: str, photo: bytes | None = None) -> Message:
        buttons = tuple(
            Button(c.id, c.label if isinstance(c.label, str) else i18n.render(c.label, locale))
            for c in reply.choices
        )
        typed = _typed_numbers(buttons, locale) if reply.numeric and buttons else ""
        text = i18n.render(reply.text, locale)
        image = photo if photo is not None else (qr_png(reply.qr) if reply.qr else None)
        shown = reply.place or reply.picture_of
        base = self.services.catalog.base(shown) if shown else None
        venue, image_name = None, ""
        if base is not None and reply.place:
            text, venue = places.located(text, base, locale, self.public_base_url)
        if base is not None and reply.picture_of and image is None:
            image, image_name = places.picture(base), f"base:{base.id}"
        return Message(
            text,
            buttons,
            reply.certificate,
            image,
            typed,
            locale,
            venue,
            reply.attachment,
            offer_updates=reply.offer_updates,
            forgotten=reply.forgotten,
            image_name=image_name if image is not None else "",
            poster=reply.poster,
        )


def _with_menu(outcome: End, menu: Reply) -> list[Reply]:
    """The flow's last words, with the main menu offered after them."""
    replies = list(outcome.replies)
    if replies and not replies[-1].choices:
        replies[-1] = replace(replies[-1], choices=menu.choices)
        return replies
    return [*replies, menu]


def _typed_numbers(buttons: tuple[Button, ...], locale: str) -> str:
    """A number question's quick picks as a line to type from, for channels that number their
    choices: a typed number must stay the value, never a position in a list."""
    values = [b.label for b in buttons if not b.id.startswith("nav:")]
    nav = [b.label for b in buttons if b.id.startswith("nav:")]
    separator = i18n.text(N_("nav.list_separator"), locale)
    params = {"values": separator.join(values), "nav": " / ".join(nav)}
    return i18n.text(N_("nav.typed_number"), locale, params)


def _command(text: str) -> str | None:
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2:
        return None
    return stripped[1:].split(maxsplit=1)[0].split("@", 1)[0].lower()


def _argument(text: str) -> str:
    """What follows a command (`/join K7M2Q9` → `K7M2Q9`), at most 64 characters."""
    parts = text.strip().split(maxsplit=1)
    return parts[1][:64] if len(parts) > 1 else ""


def _note(stored: str) -> Message:
    """A note left for the user: a text, or JSON with a text and a certificate."""
    if stored.startswith("{"):
        try:
            note = json.loads(stored)
            return Message(str(note["text"]), certificate=note.get("certificate") or None)
        except (ValueError, KeyError, TypeError):
            pass
    return Message(stored)


def _clip(turn: Turn) -> Turn:
    return replace(turn, text=turn.text[:MAX_TEXT]) if len(turn.text) > MAX_TEXT else turn


def _last_buttons(messages: list[Message]) -> tuple[Button, ...]:
    return next((m.buttons for m in reversed(messages) if m.buttons), ())
