"""The certificate's fonts: Noto Sans CJK SC first, then fallbacks chosen per character by
each font's cmap (Latin, Greek and Cyrillic from Noto Sans; CJK Extension B-F from Hanazono
Mincho B), all under the SIL Open Font License (assets/fonts/LICENSES.md). Pillow has no font
fallback of its own, so a text is cut into runs, each drawn with the first font that has it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import noto_cjk_sans_otc
from fontTools.ttLib import TTCollection, TTFont
from PIL import ImageFont

from bot.catalog import ASSETS_DIR
from bot.model import immutable

FONTS_DIR = ASSETS_DIR / "fonts"


@immutable
class Face:
    """One font of the chain: a file and, in a collection, the face's index."""

    path: Path
    index: int = 0


def font_path() -> Path:
    """Where the main font collection (Noto Sans CJK) lies on disk."""
    return Path(str(noto_cjk_sans_otc.FONT_PATH))


@cache
def faces() -> tuple[Face, ...]:
    """The chain, main font first (index 2 of the collection: simplified Chinese forms)."""
    return (
        Face(font_path(), 2),
        Face(FONTS_DIR / "NotoSans-Regular.woff2"),
        Face(FONTS_DIR / "HanaMinB.woff2"),
    )


@cache
def font(size: int, face: int = 0) -> ImageFont.FreeTypeFont:
    """A font of the chain at `size` pixels, loaded once per size and kept."""
    chosen = faces()[face]
    return ImageFont.truetype(str(chosen.path), size, index=chosen.index)


@cache
def cmap(face: int) -> frozenset[int]:
    """Code points a font of the chain has glyphs for (read once)."""
    chosen = faces()[face]
    if chosen.path.suffix == ".ttc":
        collection = TTCollection(str(chosen.path), lazy=True)
        try:
            return frozenset(collection[chosen.index]["cmap"].getBestCmap())
        finally:
            collection.close()
    with TTFont(str(chosen.path), lazy=True) as single:
        return frozenset(single.getBestCmap())


def read_maps() -> None:
    """Read every font's character map now, not at the first name typed: that takes about a
    quarter of a second, in which a serving process answers nobody."""
    for face in range(len(faces())):
        cmap(face)


def coverage() -> frozenset[int]:
    """Code points the main font has glyphs for."""
    return cmap(0)


def face_for(char: str) -> int | None:
    """The first font of the chain that has `char`, or None when none does."""
    point = ord(char)
    return next((i for i in range(len(faces())) if point in cmap(i)), None)


def runs(text: str) -> list[tuple[str, int]]:
    """The text cut into runs of one font each (spaces stay with the run they are in)."""
    found: list[tuple[str, int]] = []
    for char in text:
        face = found[-1][1] if found and char == " " else face_for(char)
        face = 0 if face is None else face
        if found and found[-1][1] == face:
            found[-1] = (found[-1][0] + char, face)
        else:
            found.append((char, face))
    return found


def length(text: str, size: int) -> float:
    """The width of `text` at `size`, each run in its own font."""
    return sum(font(size, face).getlength(run) for run, face in runs(text))
