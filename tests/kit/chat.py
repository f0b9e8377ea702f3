"""A test kit where a test says and taps, like a user: `await chat.say("/start")`."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot.engine import Engine
from bot.model import Message, Turn

_ids = itertools.count(1)
NAME_QUESTIONS = ("证书上印什么姓名", "Which name should the certificate show")


@dataclass
class Chat:
    """One user's conversation with the engine; every message gets a fresh message id."""

    engine: Engine
    user_id: str
    locale: str | None = "zh-hans"
    display_name: str | None = None
    channel: str = "test"
    is_admin: bool = False
    agrees: bool = True  # answers the privacy notice (agree, adult) when it comes, as most do
    history: list[Message] = field(default_factory=list)
    replies: list[Message] = field(default_factory=list)

    async def say(self, text: str, message_id: str | None = None) -> list[Message]:
        """Type a line."""
        return await self.send(text=text, message_id=message_id)

    async def tap(self, choice_id: str, message_id: str | None = None) -> list[Message]:
        """Press a button."""
        return await self.send(choice_id=choice_id, message_id=message_id)

    async def send(
        self,
        text: str = "",
        choice_id: str | None = None,
        message_id: str | None = None,
        photo: bytes | None = None,
    ) -> list[Message]:
        """One turn of this user (a photo, maybe); every message gets a fresh id unless one is
        given."""
        turn = Turn(
            self.channel,
            self.user_id,
            text=text,
            choice_id=choice_id,
            message_id=message_id or f"m{next(_ids)}",
            locale=self.locale,
            display_name=self.display_name,
            is_admin=self.is_admin,
            photo=photo,
        )
        self.replies = await self.engine.handle(turn)
        self.history += self.replies
        if self.agrees and self.replies and "privacy:agree" in self.choices:
            await self.tap("privacy:agree")
            await self.tap("age:adult")
        return self.replies

    @property
    def asks_name(self) -> bool:
        """Whether the bot's last question is the name for the certificate."""
        return any(q in self.text for q in NAME_QUESTIONS)

    async def book(self, slot_id: str, name: str | None = None) -> list[Message]:
        """Tap a slot; when the bot asks whose name goes on the certificate (none on file),
        give `name` (by default the display name, else 志愿者)."""
        await self.tap(f"slot:{slot_id}")
        if self.asks_name:
            await self.say(name or self.display_name or "志愿者")
        return self.replies

    @property
    def last(self) -> Message:
        """The last message the bot sent."""
        return self.replies[-1]

    @property
    def text(self) -> str:
        """All text of the last turn's replies."""
        return "\n".join(m.text for m in self.replies)

    @property
    def choices(self) -> list[str]:
        """The choice ids offered last."""
        return [b.id for b in self.last.buttons]

    @property
    def certificate(self) -> str | None:
        """The serial of a certificate sent in the last turn, if any."""
        return next((m.certificate for m in self.replies if m.certificate), None)

    async def pledge(
        self, base: str, form: str, amount: str | None, name: str, dedication: str = ""
    ) -> list[Message]:
        """Walk the pledge flow to the confirmation (dedicated, if given) and confirm."""
        await self.say("/pledge")
        await self.tap(f"base:{base}")
        await self.tap(f"form:{form}")
        if amount is not None:
            await self.say(amount)
        await self.say(name)
        if dedication:
            await self.tap("dedicate")
            await self.say(dedication)
        return await self.tap("confirm")
