"""The certificate's CJK font (Noto Sans CJK SC, OFL, from the noto-cjk-sans-otc package)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import noto_cjk_sans_otc
from fontTools.ttLib import TTCollection
from PIL import ImageFont

FONT_INDEX = 2  # Noto Sans CJK SC inside the collection: simplified Chinese glyph forms


def font_path() -> Path:
    """Where the font collection lies on disk."""
    return Path(str(noto_cjk_sans_otc.FONT_PATH))


@cache
def font(size: int) -> ImageFont.FreeTypeFont:
    """The font at `size` pixels, loaded once per size and kept."""
    return ImageFont.truetype(str(font_path()), size, index=FONT_INDEX)


@cache
def coverage() -> frozenset[int]:
    """Code points the font has glyphs for (read once from its cmap)."""
    collection = TTCollection(str(font_path()), lazy=True)
    try:
        return frozenset(collection[FONT_INDEX]["cmap"].getBestCmap())
    finally:
        collection.close()
