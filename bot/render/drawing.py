"""What the certificate and the share poster draw alike, pure Pillow: text wrapped and centred
(with fallback fonts run by run), the largest size that fits, the QR code, the colours. Both
are 1080 pixels wide."""

from __future__ import annotations

import re

import qrcode
from PIL import Image, ImageDraw

from bot.render.fonts import font, length, runs

WIDTH = 1080
PAPER = (251, 248, 238)
GREEN = (38, 98, 60)
LEAF = (120, 170, 110)
INK = (40, 40, 40)
GREY = (110, 110, 110)
_NO_LINE_START = frozenset("。，、；：？！）」』”’》〉】…,.;:!?)")
_PIECES = re.compile(r"[^\s\u2e80-\u9fff\uac00-\ud7af\uff00-\uffef]+\s*|\s+|.", re.S)


def wrap(text: str, size: int, width: int) -> list[str]:
    """Greedy line breaking: words stay whole, CJK characters break anywhere, but no line
    starts with closing punctuation (the character before it moves down with it)."""
    lines, current = [], ""
    for piece in _PIECES.findall(text):
        if piece == "\n" or (current and length(current + piece.rstrip(), size) > width):
            if piece[0] in _NO_LINE_START and len(current) > 1:
                lines.append(current[:-1].rstrip())
                current = current[-1] + piece
                continue
            lines.append(current.rstrip())
            current = "" if piece.isspace() else piece
        else:
            current += piece
    if current.strip():
        lines.append(current.rstrip())
    return lines


def centered(
    draw: ImageDraw.ImageDraw,
    y: int,
    text: str,
    size: int,
    fill: tuple[int, int, int],
    bold: bool = False,
) -> None:
    """`text` centred on the card with its top at `y`; a text some of whose characters need
    a fallback font is drawn run by run on one baseline."""
    stroke = 1 if bold else 0
    pieces = runs(text)
    if len(pieces) == 1 and pieces[0][1] == 0:
        draw.text(
            (WIDTH // 2, y),
            text,
            font=font(size),
            fill=fill,
            anchor="mt",
            stroke_width=stroke,
            stroke_fill=fill,
        )
        return
    x = WIDTH / 2 - length(text, size) / 2
    baseline = y + font(size).getmetrics()[0]
    for run, face in pieces:
        draw.text(
            (x, baseline),
            run,
            font=font(size, face),
            fill=fill,
            anchor="ls",
            stroke_width=stroke,
            stroke_fill=fill,
        )
        x += font(size, face).getlength(run)


def fit(text: str, sizes: tuple[int, ...], width: int) -> int:
    """The largest of `sizes` at which `text` fits `width`; else the smallest (it will wrap)."""
    return next((s for s in sizes if length(text, s) <= width), sizes[-1])


def qr_image(url: str) -> Image.Image:
    """The QR code. A fixed mask pattern skips the costly search for the best one; any mask
    decodes the same."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=7, border=2, mask_pattern=0
    )
    code.add_data(url)
    code.make(fit=True)
    image: Image.Image = code.make_image(fill_color=GREEN, back_color=PAPER).get_image()
    return image.convert("RGB")
