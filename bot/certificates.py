"""The certificates service: the image of a serial, rendered off the event loop."""

from __future__ import annotations

import asyncio

from bot.certificate import CertificateRenderer
from bot.pledges import Pledge, Pledges


class Certificates:
    """What channels and pages ask for: a certificate's PNG by serial or by pledge."""

    def __init__(self, pledges: Pledges, renderer: CertificateRenderer) -> None:
        self.pledges = pledges
        self.renderer = renderer

    async def png(self, serial: str) -> bytes | None:
        """The certificate image of a serial; None if unknown or forged."""
        pledge = await self.pledges.by_serial(serial)
        return None if pledge is None else await self.png_of(pledge)

    async def png_of(self, pledge: Pledge) -> bytes:
        """The certificate image of a pledge (Pillow runs on a thread)."""
        return await asyncio.to_thread(self.renderer.render, pledge)
