"""Link-out donations: references in the chat, receipts imported from the official channel's
CSV (as Excel saves it), and the figures and exports the programme reports with."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from bot.cli import fulfilment as fulfilment_cli
from bot.errors import CommandError
from bot.model import UserKey
from bot.runtime import Runtime
from bot.services import exports, serials
from bot.services import stats as reports
from tests.kit.chat import Chat
from tests.kit.fulfil import photo

HEADER = "reference,amount_yuan,paid_at,receipt_no\n"


async def reference_of(chat: Chat, amount: str = "100") -> str:
    """Pledge a donation; the reference code the chat gives."""
    await chat.pledge("jinkui", "donation", amount, "张三丰")
    found = re.search(r"参考码：([0-9A-Z]{8})", chat.text)
    assert found is not None, chat.text
    return found.group(1)


def write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "r.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


async def statuses(runtime: Runtime, user: str = "test:u1") -> list[str]:
    return [str(p.status) for p in await runtime.pledges.of_user(UserKey(user))]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
async def test_a_receipts_file_fulfils_once_however_often_imported(
    chat: Chat, runtime: Runtime, tmp_path: Path, encoding: str
) -> None:
    paid = await reference_of(chat)
    short = await reference_of(chat, "80")
    path = write(
        tmp_path,
        HEADER + f"{paid},100.00,2026-03-12 10:00,回单001\n"
        f"{short.lower()},60,2026-03-12 10:05,回单002\n"
        "ZZZZZZZZ,60,2026-03-12 10:06,回单003\n",
        encoding,
    )
    said = await fulfilment_cli.import_receipts(runtime, path)
    assert said[0].startswith("3 receipts read") and "1 pledges fulfilled" in said[0]
    assert any("line 3" in s and "amount short: 60 of 80 yuan" in s for s in said)
    assert any("line 4" in s and "unknown reference" in s for s in said)
    assert sorted(await statuses(runtime)) == ["fulfilled", "pledged"]
    flagged = await fulfilment_cli.flagged(runtime)  # money that fulfilled nothing
    assert flagged == [f"receipt amount short: {short} 回单002 ¥60 < ¥80"]
    again = await fulfilment_cli.import_receipts(runtime, path)
    assert "0 pledges fulfilled, 1 imported before (unchanged), 2 not matched" in again[0]
    assert "1 unknown reference, 1 amount short" in again[1]
    assert sorted(await statuses(runtime)) == ["fulfilled", "pledged"]
    paid_again = write(tmp_path, HEADER + f"{paid},100,2026-03-13,回单009\n", name="b.csv")
    said = await fulfilment_cli.import_receipts(runtime, paid_again)
    assert "already fulfilled" in said[2]
    corrected = write(tmp_path, HEADER + f"{short},80,2026-03-12 10:05,回单002\n", name="c.csv")
    said = await fulfilment_cli.import_receipts(runtime, corrected)  # the short one, corrected
    assert "1 pledges fulfilled" in said[0]
    assert sorted(await statuses(runtime)) == ["fulfilled", "fulfilled"]


async def test_a_reference_code_another_pledge_holds_is_never_shared(
    chat: Chat, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pledges drawing the same code (about one in a trillion): the second gets another
    one, and each receipt fulfils its own pledge."""
    first = await reference_of(chat)
    drawn, draw = iter([first]), serials.new_id

    def same_code_once(length: int = serials.ID_LENGTH) -> str:
        return next(drawn, None) or draw(length) if length == len(first) else draw(length)

    monkeypatch.setattr(serials, "new_id", same_code_once)
    second = await reference_of(chat, "80")
    assert second != first
    pledges = {p.reference: p for p in await runtime.pledges.of_user(UserKey("test:u1"))}
    events = [(e.what, e.note) for e in pledges[second].history]
    assert events[1:] == [("reference", first), ("reference_taken", first), ("reference", second)]
    path = write(
        tmp_path, HEADER + f"{first},100,2026-03-12,回单1\n{second},80,2026-03-12,回单2\n"
    )
    said = await fulfilment_cli.import_receipts(runtime, path)
    assert "2 pledges fulfilled" in said[0]
    assert await statuses(runtime) == ["fulfilled", "fulfilled"]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("ref,amount,paid,no\nA,1,x,y\n", "missing reference, amount_yuan, paid_at, receipt_no"),
        (HEADER + "AAAA1111,-60,2026-03-12,R1\n", "line 2: amount_yuan '-60' must be more than 0"),
        (HEADER + "AAAA1111,六十,2026-03-12,R1\n", "line 2: amount_yuan '六十' is not a number"),
        (HEADER + "AAAA1111,60,,R1\n", "line 2: empty paid_at"),
        (HEADER + "A,60,d,R1\nB,60,d,R2\nC,60,d,R1\n", "line 4: receipt_no R1 repeats line 2"),
        ("", "missing reference"),
    ],
)
async def test_a_bad_file_imports_nothing_and_names_its_lines(
    chat: Chat, runtime: Runtime, tmp_path: Path, text: str, complaint: str
) -> None:
    good = await reference_of(chat)
    path = write(tmp_path, text + f"{good},100,2026-03-12,R-GOOD\n")
    with pytest.raises(CommandError, match=re.escape(complaint)):
        await fulfilment_cli.import_receipts(runtime, path)
    assert await statuses(runtime) == ["pledged"]
    fixed = write(tmp_path, HEADER + f"{good},100,2026-03-12,R-GOOD\n", name="fixed.csv")
    assert "1 pledges fulfilled" in (await fulfilment_cli.import_receipts(runtime, fixed))[0]


async def test_a_file_in_no_known_encoding_or_missing_is_refused(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "utf16.csv"
    path.write_bytes(HEADER.encode("utf-16"))
    with pytest.raises(CommandError, match="not UTF-8 or GBK"):
        await fulfilment_cli.import_receipts(runtime, path)
    with pytest.raises(CommandError, match="no such file"):
        await fulfilment_cli.import_receipts(runtime, tmp_path / "none.csv")


async def test_stats_and_the_export(
    chat: Chat, chat_en: Chat, runtime: Runtime, tmp_path: Path
) -> None:
    paid = await reference_of(chat)
    await reference_of(chat, "60")
    await chat.pledge("jinkui", "in_kind", "200", "张三丰")
    await chat.send(photo=photo())
    await chat_en.pledge("changguangxi", "adoption", "5", "Jane Doe")
    receipts = write(tmp_path, HEADER + f"{paid},100,2026-03-12,R1\n")
    await fulfilment_cli.import_receipts(runtime, receipts)
    period = reports.Period.parse(runtime.catalog, None, None, None)
    lines = await reports.stats(runtime.pledges, runtime.payments, runtime.claims, period)
    table = [line.split("\t") for line in lines]
    head = table[0]
    rows = {(r[0], r[1]): dict(zip(head, r, strict=True)) for r in table[1:]}
    donation = rows[("无锡经开区金匮公园", "捐资")]
    assert donation["pledged"] == "1" and donation["fulfilled"] == "1"
    assert donation["trees_fulfilled"] == "5" and donation["paid_yuan"] == "100"
    assert rows[("无锡经开区金匮公园", "捐物")]["claims_waiting"] == "1"
    assert rows[("total", "")]["pledged"] == "3"
    only = reports.Period.parse(runtime.catalog, None, None, "changguangxi")
    lines = await reports.stats(runtime.pledges, runtime.payments, runtime.claims, only)
    assert len(lines) == 3  # the head, adoption, the total
    with pytest.raises(CommandError, match="unknown base"):
        reports.Period.parse(runtime.catalog, None, None, "nowhere")
    with pytest.raises(CommandError, match="--from must be YYYY-MM-DD"):
        reports.Period.parse(runtime.catalog, "12/03/2026", None, None)
    out = io.StringIO()
    pledges = exports.Export(exports.Kind.PLEDGES, period)
    assert await exports.write_csv(exports.rows(runtime, pledges), out) == 4
    rows_out = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert {r["status"] for r in rows_out} == {"pledged", "fulfilled"}
    assert all("张" not in v and "Jane" not in v for r in rows_out for v in r.values())
    future = reports.Period.parse(runtime.catalog, "2099-01-01", None, None)
    assert await reports.stats(runtime.pledges, runtime.payments, runtime.claims, future) == [
        "no pledges in this period"
    ]
