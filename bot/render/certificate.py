"""render(card) -> PNG bytes: the electronic certificate, pure Pillow.

The renderer takes a Card, the certificate's content already in words (the certificates
service makes it from a pledge), and knows nothing of pledges or the catalogue. Flat colours
and line art keep the PNG small and quick to encode; the background is drawn once and reused,
fonts are loaded once per size. The same card always gives the same bytes.
"""

from __future__ import annotations

import io
from functools import cache

from PIL import Image, ImageDraw

from bot import i18n
from bot.model import N_, immutable
from bot.render.drawing import (
    GREEN,
    GREY,
    INK,
    LEAF,
    PAPER,
    WIDTH,
    centered,
    fit,
    qr_image,
    wrap,
)
from bot.render.fonts import font

HEIGHT = 1528
MARGIN = 110
TEXT_WIDTH = WIDTH - 2 * MARGIN
NAME_SIZES = (84, 72, 60, 50, 42, 36)
DEDICATION_SIZE = 40  # 20 characters at most: within the text width
ISSUER_SIZES = (30, 26, 22, 18)
QR_SIZE = 260  # room kept for the QR code beside the issuer line
QR_BOTTOM = HEIGHT - 170
PNG_LEVEL = 1  # flat colours: level 1 is a tenth larger than 6 and a third faster
JPEG_QUALITY = 85  # the chats' image: text stays crisp on a phone


@immutable
class Card:
    """What a certificate shows, in its language: the name, the duty done, the serial and the
    address its QR code opens."""

    serial: str
    name: str
    locale: str  # one of i18n.LOCALES
    title: str  # the duty's certificate, or the honorary one
    issuer: str
    year: int
    base: str
    form: str
    trees: int
    amount_yuan: int  # 0: not a donation
    date: str  # the local day the pledge was made, YYYY-MM-DD
    verify_url: str
    dedication: str = ""  # under the name: "献给女儿小满"
    body: str = ""  # the words under the name, when not a citizen's (a team's certificate)


def verify_url(public_base_url: str, serial: str) -> str:
    """The address a certificate's QR code points to."""
    return f"{public_base_url}/verify/{serial}"


@cache
def _background() -> Image.Image:
    """Paper, double frame and leaf corners: drawn once, copied for every card."""
    image = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle((28, 28, WIDTH - 29, HEIGHT - 29), outline=GREEN, width=10)
    draw.rectangle((52, 52, WIDTH - 53, HEIGHT - 53), outline=LEAF, width=3)
    for cx, cy, sx, sy in (
        (52, 52, 1, 1),
        (WIDTH - 53, 52, -1, 1),
        (52, HEIGHT - 53, 1, -1),
        (WIDTH - 53, HEIGHT - 53, -1, -1),
    ):
        for i, (dx, dy) in enumerate(((60, 18), (18, 60), (44, 44))):
            tip = (cx + sx * dx * 1.6, cy + sy * dy * 1.6)
            side = (cx + sx * (dx + 14 * (i % 2 or 1)), cy + sy * (dy + 14))
            draw.polygon([(cx, cy), side, tip], fill=LEAF if i < 2 else GREEN)
    draw.line((MARGIN, 300, WIDTH - MARGIN, 300), fill=LEAF, width=2)
    return image


class CertificateRenderer:
    """Draws certificates; keeps the background of each language, title and issuer."""

    def __init__(self) -> None:
        self._templates: dict[tuple[str, str, str], Image.Image] = {}

    def render(self, card: Card, kind: str = "png") -> bytes:
        """The certificate as PNG bytes, or JPEG (`kind="jpeg"`: what chats show: about a
        third of the time to make, a little larger; blocking: run off the loop)."""
        image = self.draw(card)
        buffer = io.BytesIO()
        if kind == "jpeg":
            image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
        else:
            image.save(buffer, format="PNG", compress_level=PNG_LEVEL)
        return buffer.getvalue()

    def draw(self, card: Card) -> Image.Image:
        """The certificate, drawn."""
        locale = card.locale
        image = self._template(locale, card.title, card.issuer).copy()
        draw = ImageDraw.Draw(image)
        y = 360
        size = fit(card.name, NAME_SIZES, TEXT_WIDTH)
        for line in wrap(card.name, size, TEXT_WIDTH)[:2]:
            centered(draw, y, line, size, INK, bold=True)
            y += size + 18
        if card.dedication:
            centered(draw, y + 4, card.dedication, DEDICATION_SIZE, GREEN)
            y += DEDICATION_SIZE + 22
        y = max(y + 40, 520)
        for line in wrap(_body(card), 36, TEXT_WIDTH):
            draw.text((MARGIN, y), line, font=font(36), fill=INK)
            y += 58
        y += 30
        for label, value in _details(card):
            draw.text((MARGIN, y), label, font=font(30), fill=GREY)
            draw.text((MARGIN + 200, y), value, font=font(30), fill=INK)
            y += 50
        qr = qr_image(card.verify_url)
        image.paste(qr, (MARGIN, QR_BOTTOM - qr.height))
        right = WIDTH - MARGIN
        draw.text((right, HEIGHT - 240), card.date, font=font(30), fill=INK, anchor="rs")
        serial_line = i18n.text(N_("cert.serial"), locale, {"serial": card.serial})
        draw.text((right, HEIGHT - 170), serial_line, font=font(26), fill=GREY, anchor="rs")
        return image

    def _template(self, locale: str, title: str, issuer: str) -> Image.Image:
        """The background with the texts every card of a language shares, drawn once."""
        key = (locale, title, issuer)
        if key not in self._templates:
            image = _background().copy()
            draw = ImageDraw.Draw(image)
            title_size = 62 if locale == "zh" else 46
            centered(draw, 150, title, title_size, GREEN, bold=True)
            centered(draw, 246, i18n.text(N_("cert.programme"), locale), 28, GREY)
            scan = i18n.text(N_("cert.scan"), locale)
            draw.text((MARGIN + 8, HEIGHT - 160), scan, font=font(24), fill=GREY)
            issuer_size = fit(issuer, ISSUER_SIZES, TEXT_WIDTH - QR_SIZE - 40)
            draw.text(
                (WIDTH - MARGIN, HEIGHT - 290),
                issuer,
                font=font(issuer_size),
                fill=INK,
                anchor="rs",
            )
            self._templates[key] = image
        return self._templates[key]


def _body(card: Card) -> str:
    if card.body:
        return card.body
    params = {"year": card.year, "base": card.base, "form": card.form, "trees": card.trees}
    return i18n.text(N_("cert.body"), card.locale, params)


def _details(card: Card) -> list[tuple[str, str]]:
    locale = card.locale
    rows = [(i18n.text(N_("cert.trees"), locale), str(card.trees))]
    if card.amount_yuan:
        amount = i18n.text(N_("cert.amount_value"), locale, {"yuan": card.amount_yuan})
        rows.append((i18n.text(N_("cert.amount"), locale), amount))
    rows.append((i18n.text(N_("cert.date"), locale), card.date))
    return rows
