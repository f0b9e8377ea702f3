"""The terminal channel: one line in, replies out; choices are printed `[1] label`.

A certificate is kept as a PNG under BOT_DATA_DIR/certificates (the certificates service's files)
and its absolute path printed on its own line, as is a share poster's JPEG; /forget deletes
them. End with Ctrl-D or /quit.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
import threading
from pathlib import Path
from typing import TextIO

from bot.channels.base import answer, choice_lines
from bot.engine import Engine
from bot.model import Channel, Message, Turn
from bot.services.certificates import Certificates

QUIT = {"/quit", "/exit"}
MARK = "[{}] "


def render(message: Message) -> str:
    """A message as terminal text, with numbered choices (`[1] label`), or for a number
    question what to type."""
    return "\n".join([message.text, *choice_lines(message, MARK)])


class Shell:
    """Chat with the engine as one local user."""

    def __init__(
        self,
        engine: Engine,
        certificates: Certificates,
        out: TextIO = sys.stdout,
        user: str | None = None,
    ) -> None:
        self.engine = engine
        self.certificates = certificates
        self.out = out
        self.user = user or getpass.getuser()
        lang = os.environ.get("LANG", "")
        self.locale = lang if lang[:2] in ("zh", "en") else None  # C.UTF-8 and friends: Chinese

    async def say(self, text: str) -> None:
        """Send one line and print the replies."""
        turn = Turn(
            Channel.SHELL, self.user, text=text, locale=self.locale, display_name=self.user
        )
        for message in await answer(self.engine, turn):
            print(render(message), file=self.out)
            if message.certificate:
                print(await self._save(message.certificate), file=self.out)
            if message.poster:
                print(await self.certificates.poster_file(message.poster), file=self.out)
            print(file=self.out)
        self.out.flush()

    async def _save(self, serial: str) -> Path:
        path = await self.certificates.file(serial)
        if path is None:
            raise LookupError(f"certificate {serial} vanished")
        return path

    async def run(self, source: TextIO = sys.stdin) -> None:
        """Read lines until end of input; first the welcome, or the question left open."""
        await self.say("/resume")
        lines = _lines(source)
        while True:
            line = await lines.get()
            if not line or line.strip() in QUIT:
                return
            await self.say(line.rstrip("\n"))


def _lines(source: TextIO) -> asyncio.Queue[str]:
    """The lines of `source` as they come ("" at the end), read by a daemon thread: a signal
    that ends the shell is not kept waiting for a line nobody types."""
    loop, lines = asyncio.get_running_loop(), asyncio.Queue[str]()

    def put(line: str) -> bool:
        try:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        except RuntimeError:  # the loop is closed: the shell is over
            return False
        return True

    def read() -> None:
        for line in iter(source.readline, ""):
            if not put(line):
                return
        put("")

    threading.Thread(target=read, name="shell-input", daemon=True).start()
    return lines
