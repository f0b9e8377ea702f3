"""What the bot reads of a Telegram update, taken straight from the Bot API's JSON.

python-telegram-bot builds an object for every field Telegram defines (a message alone sets
about a hundred attributes, a third of a webhook update's CPU); the bot reads a dozen of them.
They are read here with their types checked: anything malformed, or of a kind the bot does not
handle, reads as None and is ignored.
"""

from __future__ import annotations

from typing import Any

from bot.model import immutable

PRIVATE = "private"
IMAGE_TYPES = "image/"


@immutable
class Sender:
    """Who sent a message or tapped a button."""

    id: int
    is_bot: bool
    language: str | None
    full_name: str


@immutable
class Picture:
    """A photo (its largest size) or an image sent as a file."""

    file_id: str
    size: int | None


@immutable
class Said:
    """A message in a chat."""

    chat_id: int
    private: bool
    sender: Sender | None
    text: str | None
    caption: str | None
    picture: Picture | None


@immutable
class Tapped:
    """A button pressed (a callback query), under a message the bot sent."""

    query_id: str
    sender: Sender
    data: str | None
    chat_id: int | None  # None when the message is no longer there
    private: bool
    message_id: int


@immutable
class Membership:
    """The bot blocked or unblocked in a chat (my_chat_member)."""

    user_id: int
    private: bool
    status: str


@immutable
class Update:
    """One update: its id, and what happened."""

    update_id: int
    event: Said | Tapped | Membership


def read(data: dict[str, Any]) -> Update | None:
    """The update in `data`, or None when it is malformed or of another kind."""
    update_id = data.get("update_id")
    if not isinstance(update_id, int):
        return None
    event: Said | Tapped | Membership | None = None
    if "callback_query" in data:
        event = _tapped(_dict(data["callback_query"]))
    elif "message" in data:
        event = _said(_dict(data["message"]))
    elif "my_chat_member" in data:
        event = _membership(_dict(data["my_chat_member"]))
    return Update(update_id, event) if event is not None else None


def _said(message: dict[str, Any]) -> Said | None:
    chat = _dict(message.get("chat"))
    chat_id = chat.get("id")
    if not isinstance(chat_id, int):
        return None
    return Said(
        chat_id=chat_id,
        private=chat.get("type") == PRIVATE,
        sender=_sender(message.get("from")),
        text=_text(message.get("text")),
        caption=_text(message.get("caption")),
        picture=_picture(message),
    )


def _tapped(query: dict[str, Any]) -> Tapped | None:
    sender, query_id = _sender(query.get("from")), query.get("id")
    if sender is None or not isinstance(query_id, str):
        return None
    message = _dict(query.get("message"))
    chat = _dict(message.get("chat"))
    chat_id, message_id = chat.get("id"), message.get("message_id")
    return Tapped(
        query_id=query_id,
        sender=sender,
        data=_text(query.get("data")),
        chat_id=chat_id if isinstance(chat_id, int) else None,
        private=chat.get("type") == PRIVATE,
        message_id=message_id if isinstance(message_id, int) else 0,
    )


def _membership(change: dict[str, Any]) -> Membership | None:
    sender = _sender(change.get("from"))
    status = _dict(change.get("new_chat_member")).get("status")
    if sender is None or not isinstance(status, str):
        return None
    private = _dict(change.get("chat")).get("type") == PRIVATE
    return Membership(user_id=sender.id, private=private, status=status)


def _sender(value: Any) -> Sender | None:
    user = _dict(value)
    user_id, first = user.get("id"), _text(user.get("first_name")) or ""
    if not isinstance(user_id, int):
        return None
    last = _text(user.get("last_name"))
    return Sender(
        id=user_id,
        is_bot=user.get("is_bot") is True,
        language=_text(user.get("language_code")),
        full_name=f"{first} {last}" if last else first,
    )


def _picture(message: dict[str, Any]) -> Picture | None:
    sizes = message.get("photo")
    if isinstance(sizes, list) and sizes:
        return _file(sizes[-1])
    document = _dict(message.get("document"))
    if (_text(document.get("mime_type")) or "").startswith(IMAGE_TYPES):
        return _file(document)
    return None


def _file(value: Any) -> Picture | None:
    found = _dict(value)
    file_id, size = _text(found.get("file_id")), found.get("file_size")
    if not file_id:
        return None
    return Picture(file_id, size if isinstance(size, int) else None)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
