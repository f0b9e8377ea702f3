"""What `doctor` finds: one line per check, its level, and the fix when something is wrong."""

from __future__ import annotations

from enum import StrEnum

from bot.model import immutable


class Level(StrEnum):
    """How a finding stands."""

    OK = "ok"
    WARN = "warn"  # works, but probably not as meant
    FAIL = "FAIL"  # will not work: fix before going live


@immutable
class Finding:
    """One check's outcome: what was looked at, what was found, and what to do."""

    level: Level
    topic: str
    said: str
    fix: str = ""

    def lines(self) -> list[str]:
        """The finding for the terminal: a line, and the fix below it."""
        head = f"[{self.level:<4}] {self.topic}: {self.said}"
        return [head, f"       fix: {self.fix}"] if self.fix else [head]


def ok(topic: str, said: str) -> Finding:
    """All is well."""
    return Finding(Level.OK, topic, said)


def warn(topic: str, said: str, fix: str) -> Finding:
    """Works, but probably not as meant."""
    return Finding(Level.WARN, topic, said, fix)


def fail(topic: str, said: str, fix: str) -> Finding:
    """Will not work."""
    return Finding(Level.FAIL, topic, said, fix)


def clock(source: str, theirs: float, ours: float) -> Finding:
    """This machine's clock against `source`'s (WeChat and WeChat Pay refuse signatures with
    timestamps more than a few minutes off)."""
    off = ours - theirs
    if abs(off) <= CLOCK_WARN_S:
        return ok("clock", f"within {abs(off):.0f} s of {source}'s")
    said = f"this machine's clock is {off:+.0f} s from {source}'s"
    fix = "keep the clock synchronised (timedatectl set-ntp true, or chrony)"
    return (fail if abs(off) > CLOCK_FAIL_S else warn)("clock", said, fix)


def reason(exc: BaseException) -> str:
    """Why a call failed, in a few words (a refused connection, no answer in time...)."""
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    cause = getattr(exc, "os_error", None)  # aiohttp's connection errors carry the OS's
    host = getattr(exc, "host", "")
    if cause is not None:
        return f"cannot connect to {host}:{getattr(exc, 'port', '')}: {cause.strerror or cause}"
    if exc.__cause__ is not None:  # a library's error around the connection's
        return reason(exc.__cause__)
    return str(exc) or type(exc).__name__


CLOCK_WARN_S = 5.0
CLOCK_FAIL_S = 60.0  # WeChat Pay refuses requests signed more than 5 minutes off; stay well in
