"""The admin commands: slots add/list/cancel/import, checkin, worker; bad input is refused
with a clear message and exit code 2, and changes nothing."""

from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.catalog import load_catalog
from bot.errors import CommandError
from bot.model import UserKey
from bot.ops import backup
from bot.runtime import Runtime
from bot.services.slots import parse_slot, read_csv
from tests.kit.chat import Chat
from tests.kit.fulfil import photo
from tests.kit.paths import ROOT
from tests.kit.processes import cli
from tests.kit.slots import add_slot, starting_now
from tests.kit.store import contents

NOW = 1_795_000_000.0  # 2026-11-18, before the dates below


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nowhere", "2026-12-01", "09:00", "12:00", "5"), "unknown base 'nowhere'"),
        (("jinkui", "2026-11-01", "09:00", "12:00", "5"), "is in the past"),
        (("jinkui", "2026-12-01", "12:00", "09:00", "5"), "must be after start"),
        (("jinkui", "2026-12-01", "09:00", "09:00", "5"), "must be after start"),
        (("jinkui", "2026-12-01", "09:00", "12:00", "0"), "from 1 to 10,000"),
        (("jinkui", "2026-12-01", "09:00", "12:00", "-3"), "from 1 to 10,000"),
        (("jinkui", "2026-12-01", "09:00", "12:00", "10001"), "from 1 to 10,000"),
        (("jinkui", "01/12/2026", "09:00", "12:00", "5"), "YYYY-MM-DD"),
        (("jinkui", "2026-12-01", "9am", "12:00", "5"), "HH:MM"),
    ],
)
def test_bad_slots_are_refused_with_the_reason(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        parse_slot(load_catalog(), *args, task=None, now=NOW)


def test_a_good_slot_is_in_shanghai_time() -> None:
    slot = parse_slot(
        load_catalog(), "jinkui", "2026-12-01", "09:00", "12:00", "20", None, now=NOW
    )
    assert slot.start == datetime(2026, 12, 1, 1, 0, tzinfo=UTC).timestamp()
    assert slot.end - slot.start == 3 * 3600 and slot.capacity == 20 and slot.task


def test_a_csv_import_names_the_bad_line() -> None:
    good = "base,date,start,end,capacity,task\njinkui,2099-12-01,09:00,12:00,20,植树\n"
    assert len(read_csv(load_catalog(), io.StringIO(good))) == 1
    bad = good + "guzhuang,2099-12-02,15:00,14:00,5,\n"
    with pytest.raises(CommandError, match="line 3: end 14:00 must be after start 15:00"):
        read_csv(load_catalog(), io.StringIO(bad))
    with pytest.raises(CommandError, match="needs the columns"):
        read_csv(load_catalog(), io.StringIO("where,when\nx,y\n"))


def test_slots_add_list_cancel_and_checkin_from_the_command_line(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    bad = cli(
        "slots",
        "add",
        "--base",
        "jinkui",
        "--date",
        "2020-01-01",
        "--start",
        "09:00",
        "--end",
        "12:00",
        "--capacity",
        "5",
        env=cli_env,
    )
    assert bad.returncode == 2 and "is in the past" in bad.stderr
    added = cli(
        "slots",
        "add",
        "--base",
        "jinkui",
        "--date",
        "2099-12-01",
        "--start",
        "09:00",
        "--end",
        "12:00",
        "--capacity",
        "5",
        "--task",
        "浇水",
        env=cli_env,
    )
    assert added.returncode == 0, added.stderr
    slot_id = added.stdout.split()[1]
    csv_file = tmp_path / "season.csv"
    csv_file.write_text(
        "base,date,start,end,capacity,task\nguzhuang,2099-12-02,09:00,11:00,8,巡护\n",
        encoding="utf-8",
    )
    assert "1 slots added" in cli("slots", "import", str(csv_file), env=cli_env).stdout
    listing = cli("slots", "list", "--date", "2099-12-01", env=cli_env).stdout
    assert slot_id in listing and "0/5" in listing and "浇水" in listing
    assert "巡护" not in listing
    cancelled = cli("slots", "cancel", slot_id, env=cli_env)
    assert cancelled.returncode == 0 and "notices to 0 volunteers queued" in cancelled.stdout
    again = cli("slots", "cancel", slot_id, env=cli_env)
    assert again.returncode == 2 and "no open slot" in again.stderr
    unknown = cli("checkin", "NOSUCHCD", env=cli_env)
    assert unknown.returncode == 2 and "No booking has the check-in code" in unknown.stderr


async def test_checkin_refuses_what_is_not_due_and_says_why_in_the_terminals_language(
    runtime: Runtime, cli_env: dict[str, str]
) -> None:
    """The command line asks the bookings service like every other door: a slot two days
    ahead, a cancelled booking or slot, a second check-in: exit 2, the reason, nothing
    changed; in Chinese where LANG says so."""
    slot = await add_slot(runtime, hours_ahead=48)
    now = int(time.time())
    await runtime.bookings.book("shell:alice", slot.id, "王小红", "zh", now)
    await runtime.bookings.book("shell:bob", slot.id, "李明", "zh", now)
    alice = (await runtime.bookings.slots.bookings("shell:alice"))[slot.id].code
    bob = (await runtime.bookings.slots.bookings("shell:bob"))[slot.id].code
    before = await contents(runtime.store)
    early = cli("checkin", alice, env=cli_env)
    assert early.returncode == 2 and "not open yet" in early.stderr and "opens at" in early.stderr
    zh = cli("checkin", alice, env=cli_env | {"LANG": "zh_CN.UTF-8"})
    assert zh.returncode == 2 and "还不能签到" in zh.stderr
    assert await contents(runtime.store) == before
    assert await runtime.bookings.cancel("shell:bob", slot.id, now) == "cancelled"
    await starting_now(runtime, slot.id)
    done = cli("checkin", alice, env=cli_env)
    assert done.returncode == 0 and "Checked in: 王*红" in done.stdout, done.stderr
    again = cli("checkin", alice, env=cli_env)
    assert again.returncode == 2 and "already checked in at" in again.stderr
    gone = cli("checkin", bob, env=cli_env)
    assert gone.returncode == 2 and "booking was cancelled" in gone.stderr
    assert await runtime.bookings.cancel_slot(slot.id) == 1  # alice, who came, is told
    cancelled = cli("checkin", alice, env=cli_env)
    assert cancelled.returncode == 2 and "slot was cancelled" in cancelled.stderr


async def test_the_worker_command_sends_reminders_backs_up_and_stops_on_sigterm(
    runtime: Runtime, cli_env: dict[str, str], tmp_path: Path
) -> None:
    start = int(time.time()) + 10 * 3600
    slot = await runtime.bookings.add_slot("jinkui", start, start + 3600, 5, "植树")
    await runtime.bookings.book("shell:alice", slot.id, "", "zh", int(time.time()))
    env = cli_env | {"BACKUP_HOUR": "0", "BACKUP_KEEP": "2"}  # the nightly backup is due now
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "worker", cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    try:
        notes = runtime.store.keys.notes("shell:alice")
        for _ in range(300):
            if await runtime.store.redis.llen(notes):
                break
            await asyncio.sleep(0.1)
        assert "⏰" in (await runtime.store.redis.lrange(notes, 0, -1))[0]
        for _ in range(300):
            if list((tmp_path / "backups").glob("backup-*.jsonl.gz")):
                break
            await asyncio.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, errors = await asyncio.wait_for(worker.communicate(), 30)
    assert worker.returncode == 0, errors
    (taken,) = (tmp_path / "backups").glob("backup-*.jsonl.gz")
    assert backup.check(taken).items > 0  # the slot and the booking at least


def test_broadcast_create_status_list_and_cancel(
    cli_env: dict[str, str], tmp_path: Path, runtime: Runtime
) -> None:
    text = tmp_path / "appeal.txt"
    text.write_text("植树节：8 个基地本周开放网上尽责", encoding="utf-8")
    created = cli(
        "broadcast",
        "create",
        "--text",
        str(text),
        "--at",
        "2099-03-12 09:00",
        "--yes",
        env=cli_env,
    )
    assert created.returncode == 0, created.stderr
    assert "audience: 0 subscribers" in created.stdout and "appeal #1 queued" in created.stdout
    dutiful = cli(
        "broadcast", "create", "--text", str(text), "--duty", "few", "--yes", env=cli_env
    )
    assert dutiful.returncode == 0 and "appeal #2 queued" in dutiful.stdout, dutiful.stderr
    asked = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "bot", "broadcast", "create", "--text", str(text)],
        cwd=ROOT,
        env=cli_env,
        input="n\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "not sent" in asked.stdout
    status = cli("broadcast", "status", "1", env=cli_env)
    assert "#1 scheduled" in status.stdout and "pending 0" in status.stdout
    assert "#1 scheduled" in cli("broadcast", "list", env=cli_env).stdout
    assert "cancelled" in cli("broadcast", "cancel", "1", env=cli_env).stdout
    again = cli("broadcast", "cancel", "1", env=cli_env)
    assert again.returncode == 2 and "not scheduled or sending" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--base", "nowhere"), "unknown base"),
        (("--at", "tomorrow"), "--at must be"),
        (("--image", "/etc/hostname"), "must be a PNG"),
        (("--duty", "lazy"), "invalid choice"),
        (("--duty", "open", "--wechat-mass"), "every follower"),
    ],
)
def test_bad_broadcasts_are_refused(
    cli_env: dict[str, str], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    text = tmp_path / "appeal.txt"
    text.write_text("植树", encoding="utf-8")
    bad = cli("broadcast", "create", "--text", str(text), "--yes", *args, env=cli_env)
    assert bad.returncode == 2 and message in bad.stderr


async def test_teams_from_the_command_line(
    cli_env: dict[str, str], runtime: Runtime, chat: Chat
) -> None:
    made = await runtime.teams.create(
        UserKey(f"{chat.channel}:{chat.user_id}"), "绿色先锋队", "jinkui", 10, 2026
    )
    assert not isinstance(made, str)
    listed = cli("teams", "list", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    assert f"{made.code}\t2026\t绿色先锋队\t1 members\t0/10 trees (0%)" in listed.stdout
    shown = cli("teams", "show", made.code.lower(), env=cli_env)
    assert "绿色先锋队" in shown.stdout and "0 of 10 fulfilled" in shown.stdout
    missing = cli("teams", "show", "NOPE00", env=cli_env)
    assert missing.returncode == 2 and "no team has the code" in missing.stderr


async def test_fulfilment_commands_from_the_command_line(
    cli_env: dict[str, str], chat: Chat, tmp_path: Path
) -> None:
    await chat.pledge("jinkui", "donation", "100", "张三丰")
    await chat.pledge("jinkui", "in_kind", "200", "张三丰")
    await chat.send(text="收据", photo=photo())
    stats = cli("stats", "--from", "2020-01-01", "--base", "jinkui", env=cli_env)
    assert stats.returncode == 0, stats.stderr
    assert "无锡经开区金匮公园\t捐资\t1\t0" in stats.stdout
    out = tmp_path / "pledges.csv"
    exported = cli("export", "pledges", "-o", str(out), env=cli_env)
    assert exported.returncode == 0 and "2 pledges exported" in exported.stderr
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"pledge_id,created_local" in data
    assert "张" not in data.decode("utf-8-sig")
    to_stdout = cli("export", "pledges", env=cli_env)
    assert to_stdout.stdout.startswith("\ufeffpledge_id")
    claims = cli("claims", "list", env=cli_env)
    assert "张*丰" in claims.stdout and "waiting" in claims.stdout
    claim_id = claims.stdout.split("\t")[0]
    shown = cli("claims", "show", claim_id, env=cli_env)
    assert "note: 收据" in shown.stdout and "/evidence/" in shown.stdout
    rejected = cli("claims", "reject", claim_id, "--reason", "看不清", env=cli_env)
    assert rejected.returncode == 0 and "rejected" in rejected.stdout
    twice = cli("claims", "approve", claim_id, env=cli_env)
    assert twice.returncode == 2 and "already rejected by cli:" in twice.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("reference,amount_yuan,paid_at,receipt_no\nAB,-1,x,R\n", encoding="utf-8")
    refused = cli("payments", "import", str(bad), env=cli_env)
    assert refused.returncode == 2 and "line 2: amount_yuan '-1'" in refused.stderr
    assert "nothing flagged" in cli("payments", "flagged", env=cli_env).stdout
    unpaid = cli("payments", "refund", "NOSUCH", "--reason", "x", env=cli_env)
    assert unpaid.returncode == 2 and "there is no pledge" in unpaid.stderr
    bad_day = cli("stats", "--to", "tomorrow", env=cli_env)
    assert bad_day.returncode == 2 and "--to must be YYYY-MM-DD" in bad_day.stderr


HEAVY = ("redis", "aiohttp", "PIL", "telegram", "wechatpy", "wechatpayv3", "jinja2", "bot.runtime")


@pytest.mark.parametrize("argv", [["--help"], ["slots", "list", "--help"], ["doctor", "--help"]])
def test_help_builds_every_command_without_importing_the_core_or_a_platform(
    argv: list[str],
) -> None:
    """--help answers at once: no Redis client, web server, image or platform library is
    loaded to build the parser (bench/cli.py times it)."""
    probe = (
        "import sys\nfrom bot.cli import main\ntry:\n    main(sys.argv[1:])\n"
        "except SystemExit:\n    pass\nprint(sorted(m for m in sys.modules))"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, our own package
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True, cwd=ROOT
    )
    loaded = done.stdout.strip().splitlines()[-1]
    assert "python -m bot" in done.stdout
    assert not [m for m in HEAVY if f"'{m}'" in loaded or f"'{m}." in loaded], loaded
