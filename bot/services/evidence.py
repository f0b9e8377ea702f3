"""Photos sent as evidence (and appeals' pictures): checked by opening them with Pillow (never
by their name), and kept as a re-encoded JPEG (or PNG), longest side at most 1,600 px, with no
EXIF (no location, no camera).

Decoding is what a hostile picture attacks (a small file that unpacks to a huge bitmap), so it
is bounded three ways: a JPEG is decoded already scaled down (draft mode, at most a fraction of
its pixels in memory), a format that cannot be drafted (PNG, WebP, GIF...) is refused above
MAX_FLAT_PIXELS, and at most DECODES_AT_ONCE pictures are decoded at a time in a process, on a
thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import io
import warnings
import weakref

from PIL import Image, ImageOps

MAX_PHOTO_BYTES = 5 * 1024 * 1024  # the largest photo or picture anyone may send
MAX_PIXELS = 50_000_000  # a JPEG: decoded at 1/8 of each side at most (draft mode)
MAX_FLAT_PIXELS = 12_000_000  # decoded whole (a phone's 4,000 x 3,000 photo): 48 MB as RGBA
DECODES_AT_ONCE = 2
LONGEST_SIDE = 1600
QUALITY = 85
FAILURES = (
    OSError,
    ValueError,
    SyntaxError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)

_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


async def keep(data: bytes, image_format: str = "JPEG") -> bytes | None:
    """The picture as we keep it (see `reencode`), decoded on a thread, at most
    DECODES_AT_ONCE at a time in this process; None when it is not an image we can open."""
    loop = asyncio.get_running_loop()
    gate = _gates.setdefault(loop, asyncio.Semaphore(DECODES_AT_ONCE))
    async with gate:
        return await asyncio.to_thread(reencode, data, image_format)


def reencode(data: bytes, image_format: str = "JPEG") -> bytes | None:
    """The photo as the JPEG we keep (or a PNG: an appeal's picture), or None when `data` is
    not an image we can open within the limits (blocking: call `keep` from async code)."""
    if not data or len(data) > MAX_PHOTO_BYTES:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if not _within_limits(image):
                    return None
                image.draft("RGB", (LONGEST_SIDE, LONGEST_SIDE))  # a JPEG decodes scaled down
                image.thumbnail((LONGEST_SIDE, LONGEST_SIDE))  # before any copy is made
                upright = ImageOps.exif_transpose(image).convert("RGB")
    except FAILURES:
        return None
    out = io.BytesIO()
    if image_format == "PNG":
        upright.save(out, format="PNG", optimize=True)
    else:
        upright.save(out, format="JPEG", quality=QUALITY, optimize=True)  # no exif: stripped
    return out.getvalue()


def _within_limits(image: Image.Image) -> bool:
    """Small enough to decode: a JPEG up to MAX_PIXELS (drafted), anything else up to
    MAX_FLAT_PIXELS."""
    pixels = image.width * image.height
    return pixels <= (MAX_PIXELS if image.format == "JPEG" else MAX_FLAT_PIXELS)
