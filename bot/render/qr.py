"""QR codes as small PNGs (a check-in code to show at the gate)."""

from __future__ import annotations

import functools
import io

import qrcode


@functools.lru_cache(maxsize=256)
def qr_png(text: str) -> bytes:
    """`text` as a QR code PNG, large enough to scan from a phone screen."""
    image = qrcode.make(text, box_size=10, border=3)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
