"""Names for certificates: what a person typed, cleaned to what the card can print."""

from __future__ import annotations

import unicodedata

from bot.fonts import coverage

_DROP_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def printable(raw: str) -> str:
    """The name as it will be printed: NFC, no control or format characters, no characters the
    certificate font cannot draw (emoji, for one), single spaces, trimmed."""
    text = unicodedata.normalize("NFC", raw)
    glyphs = coverage()
    kept = []
    for char in text:
        if char.isspace():
            kept.append(" ")
        elif unicodedata.category(char) not in _DROP_CATEGORIES and ord(char) in glyphs:
            kept.append(char)
    return " ".join("".join(kept).split())
