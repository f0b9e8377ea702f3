"""Draw the stand-in picture of each base (assets/bases/ID.jpg) from the catalogue: a card with
the base's name, district and a row of trees. Put a real photo under the same name to replace
one. Run: python -m tools.base_cards"""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from bot.catalog import ASSETS_DIR, load_catalog
from bot.render.fonts import font

OUT = ASSETS_DIR / "bases"
SIZE = (960, 600)


def card(name: str, district: str, english: str, seed: int) -> Image.Image:
    """One base's card."""
    rng = random.Random(seed)  # noqa: S311 - tree heights, not secrets
    image = Image.new("RGB", SIZE, (224, 238, 214))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 400, SIZE[0], SIZE[1]), fill=(167, 201, 140))  # the ground
    for x in range(30, SIZE[0], 70):  # a row of trees
        height = rng.randint(90, 170)
        top = 400 - height
        draw.rectangle((x + 18, 400 - 40, x + 26, 405), fill=(110, 80, 50))
        draw.ellipse((x, top, x + 44, 400 - 30), fill=(46 + rng.randint(0, 40), 125, 50))
    draw.text((48, 440), name, font=font(52), fill=(27, 67, 32))
    draw.text((48, 512), f"{district} · {english}", font=font(26), fill=(40, 80, 45))
    return image


def main() -> None:
    """Write every base's card."""
    OUT.mkdir(parents=True, exist_ok=True)
    for index, base in enumerate(load_catalog().bases):
        picture = card(base.name.zh, base.district.zh, base.name.en, index)
        picture.save(OUT / f"{base.id}.jpg", quality=82, optimize=True)


if __name__ == "__main__":
    main()
