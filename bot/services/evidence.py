"""Photos sent as evidence: checked by opening them with Pillow (never by their name), and kept
as a re-encoded JPEG, longest side at most 1,600 px, with no EXIF (no location, no camera)."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

MAX_PHOTO_BYTES = 5 * 1024 * 1024  # the largest photo or picture anyone may send
MAX_PIXELS = 50_000_000  # a bigger picture is a decompression bomb, not a photo
LONGEST_SIDE = 1600
QUALITY = 85


def reencode(data: bytes, image_format: str = "JPEG") -> bytes | None:
    """The photo as the JPEG we keep (or a PNG: an appeal's picture), or None when `data` is
    not an image we can open."""
    if not data or len(data) > MAX_PHOTO_BYTES:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    return None
                image.draft("RGB", (LONGEST_SIDE, LONGEST_SIDE))  # a JPEG decodes scaled down
                upright = ImageOps.exif_transpose(image).convert("RGB")
    except (
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        return None
    upright.thumbnail((LONGEST_SIDE, LONGEST_SIDE))
    out = io.BytesIO()
    if image_format == "PNG":
        upright.save(out, format="PNG", optimize=True)
    else:
        upright.save(out, format="JPEG", quality=QUALITY, optimize=True)  # no exif: stripped
    return out.getvalue()
