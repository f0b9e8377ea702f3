"""Certificate serials carry an HMAC check code: guessed or edited serials fail."""

from __future__ import annotations

from bot.runtime import Runtime
from bot.services import serials
from tests.kit.chat import Chat
from tests.kit.fulfil import pay

SECRET = "k" * 32


def test_issued_serial_verifies_and_reads_well() -> None:
    serial = serials.issue(2026, "7K3M9Q2TAB", SECRET)
    assert serial.startswith("WX2026-7K3M9Q2TAB-") and len(serial) == 24
    assert serials.verify(serial, SECRET) == serial
    assert serials.verify(serial.lower(), SECRET) == serial


def test_forged_or_malformed_serials_fail() -> None:
    serial = serials.issue(2026, "7K3M9Q2TAB", SECRET)
    assert serials.verify(serial, "another-secret-entirely") is None
    assert serials.verify(serial.replace("7K3", "7K4"), SECRET) is None
    assert serials.verify(serial[:-1] + ("A" if serial[-1] != "A" else "B"), SECRET) is None
    for junk in ("", "WX2026", "../../etc/passwd", serial + "0", "WX2026-7K3M9Q2TAB-ABCDEI"):
        assert serials.verify(junk, SECRET) is None


def test_ids_are_random_and_in_the_alphabet() -> None:
    ids = {serials.new_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(set(i) <= set(serials.ALPHABET) for i in ids)


async def test_a_forged_serial_finds_no_pledge(chat: Chat, runtime: Runtime) -> None:
    await chat.pledge("jinkui", "donation", "100", "张三")
    serial = await pay(runtime, "test:u1") or ""
    forged = serial[:-6] + "000000"
    assert await runtime.pledges.by_serial(serial) is not None
    assert await runtime.pledges.by_serial(forged) is None
