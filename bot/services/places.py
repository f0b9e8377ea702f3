"""Where the bases are: the lines a chat shows (address, hours, how to get there, a map link),
the pin Telegram shows (sendVenue), and each base's picture.

The map link opens Amap (高德地图), the map most people in Wuxi use, searching for the base by
name near its coordinates, so it lands on the place even where the catalogue's coordinates are
only approximate. Chats carry a short link of our own, `/map/BASE`, that redirects there.
"""

from __future__ import annotations

import functools
from urllib.parse import urlencode

from bot import i18n
from bot.catalog import ASSETS_DIR, Base
from bot.model import N_, Venue

WUXI = "320200"  # Amap's city code


def map_link(base: Base) -> str:
    """An Amap link that finds the base."""
    query = {
        "keyword": base.name.zh,
        "center": f"{base.lon:.6f},{base.lat:.6f}",
        "city": WUXI,
        "src": "wuxi-tree-duty",
        "callnative": "1",
    }
    return f"https://uri.amap.com/search?{urlencode(query)}"


def short_link(base: Base, public_base_url: str) -> str:
    """Our own short link to the base's map (GET /map/BASE redirects to Amap)."""
    return f"{public_base_url}/map/{base.id}"


def venue(base: Base, locale: str, public_base_url: str) -> Venue:
    """The base as a pin with its address and map link."""
    link = short_link(base, public_base_url)
    return Venue(base.id, base.name(locale), base.address(locale), base.lat, base.lon, link)


def lines(base: Base, locale: str, public_base_url: str) -> str:
    """Address, hours, how to get there and the map link, a line each."""
    params = {
        "address": base.address(locale),
        "hours": base.hours(locale),
        "transport": base.transport(locale),
        "link": short_link(base, public_base_url),
    }
    return i18n.text(N_("place.lines"), locale, params)


def located(text: str, base: Base, locale: str, public_base_url: str) -> tuple[str, Venue]:
    """A message's text with the base's lines below it, and the base's pin."""
    return f"{text}\n\n{lines(base, locale, public_base_url)}", venue(
        base, locale, public_base_url
    )


@functools.lru_cache(maxsize=32)
def picture(base: Base) -> bytes | None:
    """The base's picture (a JPEG under assets/), if it has one."""
    if not base.photo:
        return None
    path = (ASSETS_DIR / base.photo).resolve()
    if ASSETS_DIR not in path.parents or not path.is_file():
        return None
    return path.read_bytes()
