"""The certificates service: a certificate's image, rendered once and kept on this machine.

Rendering costs tens of milliseconds of CPU, so each image is rendered once and kept as
`BOT_DATA_DIR/certificates/SERIAL.png` (the download: the terminal prints that path, the web
pages serve it) and `SERIAL.jpg` (what Telegram and WeChat show, three times quicker to make
than the PNG), and the share poster `SERIAL-poster.jpg` (the masked name, for WeChat Moments).
The files hold the full name: `forget` deletes them with the pledges, and files not read for
CACHE_DAYS are pruned now and then.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path

from bot import i18n
from bot.catalog import Catalog
from bot.model import N_
from bot.render.certificate import Card, CertificateRenderer, verify_url
from bot.render.poster import Poster, PosterRenderer
from bot.services.names import mask_name
from bot.services.pledges import Pledge, Pledges
from bot.store.teams import Team

CACHE_DAYS = 30
SUFFIXES = {"png": ".png", "jpeg": ".jpg", "poster": "-poster.jpg"}
PRUNE_EVERY = 500  # renders between two prunings of old files


class Certificates:
    """What channels, pages and flows ask for: a certificate's PNG, its file, forgetting it."""

    def __init__(
        self, pledges: Pledges, renderer: CertificateRenderer, folder: Path, public_base_url: str
    ) -> None:
        self.pledges = pledges
        self.renderer = renderer
        self.posters = PosterRenderer()
        self.folder = folder.resolve()
        self.public_base_url = public_base_url
        self._renders = itertools.count(1)

    def card_of(self, pledge: Pledge) -> Card:
        """What a fulfilled pledge's certificate shows (ValueError without a serial)."""
        return card_of(pledge, self.pledges.catalog, self.public_base_url)

    async def png(self, serial: str) -> bytes | None:
        """The certificate image of a serial; None if unknown or forged."""
        pledge = await self.pledges.by_serial(serial)
        return None if pledge is None else await self.png_of(pledge)

    async def png_of(self, pledge: Pledge) -> bytes:
        """The certificate image of a pledge: the kept file, or rendered (on a thread) and
        kept."""
        return await asyncio.to_thread(self._image_of, pledge, "png")

    async def chat_image(self, serial: str) -> bytes | None:
        """The JPEG chats show of a serial's certificate; None if unknown or forged."""
        pledge = await self.pledges.by_serial(serial)
        return None if pledge is None else await asyncio.to_thread(self._image_of, pledge, "jpeg")

    async def poster(self, serial: str) -> bytes | None:
        """The share poster (JPEG) of a serial's certificate; None if unknown or forged."""
        pledge = await self.pledges.by_serial(serial)
        return None if pledge is None else await self.poster_of(pledge)

    async def poster_of(self, pledge: Pledge) -> bytes:
        """The share poster of a pledge: the kept file, or rendered (on a thread) and kept."""
        return await asyncio.to_thread(self._image_of, pledge, "poster")

    async def team_png(self, team: Team, members: int, trees: int) -> bytes:
        """A team's collective certificate (PNG), rendered once and kept like the others."""
        card = team_card(team, members, trees, self.pledges.catalog, self.public_base_url)
        path = self._path(card.serial)
        return await asyncio.to_thread(self._kept, path, lambda: self.renderer.render(card))

    async def poster_file(self, serial: str) -> Path | None:
        """The kept file of a serial's share poster (written if need be); None if unknown."""
        pledge = await self.pledges.by_serial(serial)
        if pledge is None:
            return None
        await self.poster_of(pledge)
        return self._path(pledge.serial or "", pledge.edition, "poster")

    async def file(self, serial: str) -> Path | None:
        """The kept file of a serial's certificate (written if need be); None if unknown."""
        pledge = await self.pledges.by_serial(serial)
        if pledge is None:
            return None
        await self.png_of(pledge)
        return self._path(pledge.serial or "", pledge.edition)

    async def forget(self, serials: list[str]) -> None:
        """Delete the kept images of these certificates."""
        await asyncio.to_thread(self._forget, serials)

    def _path(self, serial: str, edition: int = 0, kind: str = "png") -> Path:
        suffix = SUFFIXES[kind]
        return self.folder / (f"{serial}-{edition}{suffix}" if edition else f"{serial}{suffix}")

    def _image_of(self, pledge: Pledge, kind: str) -> bytes:
        path = self._path(pledge.serial or pledge.id, pledge.edition, kind)
        return self._kept(path, lambda: self._render(pledge, kind))

    def _kept(self, path: Path, render: Callable[[], bytes]) -> bytes:
        """The kept file at `path`, or `render`ed and kept there."""
        try:
            image = path.read_bytes()
        except FileNotFoundError:
            image = render()
            self._keep(path, image)
        else:
            os.utime(path)  # read lately: kept from pruning
        return image

    def _render(self, pledge: Pledge, kind: str) -> bytes:
        if kind == "poster":
            catalog = self.pledges.catalog
            return self.posters.render(poster_of(pledge, catalog, self.public_base_url))
        return self.renderer.render(self.card_of(pledge), kind)

    def _keep(self, path: Path, png: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(png)
        partial.replace(path)  # atomic: a reader sees the whole file or none
        if next(self._renders) % PRUNE_EVERY == 0:
            self.prune()

    def prune(self, now: float | None = None) -> int:
        """Delete kept images not read for CACHE_DAYS; how many went."""
        cutoff = (now or time.time()) - CACHE_DAYS * 86400
        gone = 0
        for path in [*self.folder.glob("*.png"), *self.folder.glob("*.jpg")]:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                gone += 1
        return gone

    def _forget(self, serials: list[str]) -> None:
        for serial in serials:
            for path in self.folder.glob(f"{serial}*.*"):  # every edition, PNG and JPEG
                path.unlink(missing_ok=True)


def card_of(pledge: Pledge, catalog: Catalog, public_base_url: str) -> Card:
    """A fulfilled pledge's certificate in its language (ValueError without a serial)."""
    if not pledge.serial:
        raise ValueError("only a pledge with a serial has a certificate")
    locale = pledge.locale if pledge.locale in i18n.LOCALES else i18n.DEFAULT_LOCALE
    made = catalog.local(pledge.created)
    rules = catalog.rules
    return Card(
        serial=pledge.serial,
        name=pledge.name,
        locale=locale,
        title=(rules.honorary_title if pledge.honorary else rules.title)(locale),
        issuer=rules.issuer(locale),
        year=made.year,
        base=catalog.base_name(pledge.base, locale),
        form=catalog.form_name(pledge.form, locale),
        trees=pledge.trees,
        amount_yuan=pledge.amount_yuan,
        date=made.date().isoformat(),
        verify_url=verify_url(public_base_url, pledge.serial),
        dedication=pledge.dedication,
    )


def poster_of(pledge: Pledge, catalog: Catalog, public_base_url: str) -> Poster:
    """A certificate's share poster in its language: the masked name, never the full one."""
    card = card_of(pledge, catalog, public_base_url)
    locale = card.locale
    trees = i18n.text(N_("share.trees"), locale, {"trees": card.trees})
    return Poster(
        headline=i18n.text(N_("share.headline"), locale, {"year": card.year}),
        trees=trees,
        name=mask_name(card.name),
        base=card.base,
        thanks=i18n.text(N_("share.thanks"), locale),
        scan=i18n.text(N_("cert.scan"), locale),
        programme=i18n.text(N_("cert.programme"), locale),
        verify_url=card.verify_url,
    )


def team_card(
    team: Team, members: int, trees: int, catalog: Catalog, public_base_url: str
) -> Card:
    """A team's collective certificate (集体尽责证书), in Chinese: the team's name, the year,
    its members and trees."""
    locale = i18n.DEFAULT_LOCALE
    made = catalog.local(team.certified or team.created)
    params = {"team": team.name, "members": members, "year": team.year, "trees": trees}
    return Card(
        serial=team.serial,
        name=team.name,
        locale=locale,
        title=i18n.text(N_("team.certificate_title"), locale),
        issuer=catalog.rules.issuer(locale),
        year=team.year,
        base=catalog.base_name(team.base, locale) if team.base else "",
        form="",
        trees=trees,
        amount_yuan=0,
        date=made.date().isoformat(),
        verify_url=verify_url(public_base_url, team.serial),
        body=i18n.text(N_("team.certificate_body"), locale, params),
    )
