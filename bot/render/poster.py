"""render(poster) -> JPEG bytes: the share poster, portrait 1080x1920 as WeChat Moments shows
it, pure Pillow: the year and the trees large, the masked name, the base, a line of thanks, and
the QR code to the certificate's public verification page. The background is drawn once."""

from __future__ import annotations

import io
from functools import cache

from PIL import Image, ImageDraw

from bot.model import immutable
from bot.render.drawing import GREEN, GREY, INK, LEAF, PAPER, WIDTH, centered, fit, qr_image, wrap

HEIGHT = 1920
MARGIN = 110
TEXT_WIDTH = WIDTH - 2 * MARGIN
JPEG_QUALITY = 85
QR_SCALE = 1.5  # the certificate's QR code, larger: scanned from another phone's screen


@immutable
class Poster:
    """What a share poster says, in its language: headline, the masked name, the trees and
    where, a line of thanks, and the verification address its QR code opens."""

    headline: str  # "2026 我为无锡种下了"
    trees: str  # "5 株树"
    name: str  # masked: 张*丰
    base: str
    thanks: str
    scan: str  # under the QR code: "扫码验证证书"
    programme: str  # at the foot: "互联网+全民义务植树 · 无锡"
    verify_url: str


@cache
def _background() -> Image.Image:
    """A green sky, paper below, a row of trees on the horizon: drawn once."""
    image = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 760), fill=GREEN)
    for i in range(9):  # stylised trees along the horizon
        x = 60 + i * 120
        size = 70 + (i * 37) % 50
        draw.polygon([(x, 760 - size * 2), (x - size // 2, 760), (x + size // 2, 760)], fill=LEAF)
        draw.rectangle((x - 6, 745, x + 6, 775), fill=INK)
    draw.line((MARGIN, 1180, WIDTH - MARGIN, 1180), fill=LEAF, width=3)
    return image


class PosterRenderer:
    """Draws share posters."""

    def render(self, poster: Poster) -> bytes:
        """The poster as JPEG bytes (blocking: run off the loop)."""
        image = self.draw(poster)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=JPEG_QUALITY)
        return out.getvalue()

    def draw(self, poster: Poster) -> Image.Image:
        """The poster, drawn."""
        image = _background().copy()
        draw = ImageDraw.Draw(image)
        y = 170
        for line in wrap(poster.headline, 56, TEXT_WIDTH)[:2]:
            centered(draw, y, line, 56, PAPER, bold=True)
            y += 80
        size = fit(poster.trees, (150, 120, 96), TEXT_WIDTH)
        centered(draw, y + 40, poster.trees, size, PAPER, bold=True)
        y = 840
        centered(draw, y, poster.name, fit(poster.name, (76, 64, 52, 42), TEXT_WIDTH), INK, True)
        y += 120
        for line in wrap(poster.base, 40, TEXT_WIDTH)[:2]:
            centered(draw, y, line, 40, GREEN)
            y += 58
        y = max(y + 30, 1060)
        for line in wrap(poster.thanks, 36, TEXT_WIDTH)[:2]:
            centered(draw, y, line, 36, GREY)
            y += 52
        qr = qr_image(poster.verify_url)
        qr = qr.resize(
            (int(qr.width * QR_SCALE), int(qr.height * QR_SCALE)), Image.Resampling.NEAREST
        )
        image.paste(qr, ((WIDTH - qr.width) // 2, 1250))
        centered(draw, 1250 + qr.height + 24, poster.scan, 30, GREY)
        centered(draw, HEIGHT - 110, poster.programme, 30, GREEN)
        return image
