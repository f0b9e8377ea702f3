"""Names for certificates: printed as typed, or refused with the reason."""

from __future__ import annotations

import unicodedata

from bot.render.fonts import face_for

_DROP_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # invisible: never a letter


def clean(raw: str) -> str:
    """The name as typed, made plain: NFC, no control or format characters (they print as
    nothing), single spaces, trimmed."""
    text = unicodedata.normalize("NFC", raw)
    kept = [
        " " if char.isspace() else char
        for char in text
        if char.isspace() or unicodedata.category(char) not in _DROP_CATEGORIES
    ]
    return " ".join("".join(kept).split())


MAX_DEDICATION_CHARS = 20  # "献给女儿小满", "In memory of grandpa"


def unprintable(name: str) -> str | None:
    """The first character of `name` that no certificate font can draw (an emoji, say)."""
    return next((c for c in name if c != " " and face_for(c) is None), None)


def only_digits(name: str) -> bool:
    """A number rather than a name ("60": an amount typed at the wrong question)."""
    compact = name.replace(" ", "")
    return bool(compact) and all(unicodedata.category(c) == "Nd" for c in compact)


def printable(raw: str) -> str:
    """A name nobody typed for the certificate (a platform's display name on a booking):
    cleaned, and what no font draws left out."""
    name = clean(raw)
    return " ".join("".join(c for c in name if c == " " or face_for(c) is not None).split())


def mask_name(name: str) -> str:
    """张三丰 → 张*丰, 张三 → 张*, Jane Doe → J******e: enough to recognise, not to identify."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
