"""Teams (单位/团队尽责): made, joined by code on any channel, one a year, left; the members'
pledges count for the team; the collective certificate when the target is reached, verified as
a team's; the public page shows masked names only; bad input changes nothing."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.channels.port import Port
from bot.config import Settings
from bot.model import UserKey
from bot.runtime import Runtime
from bot.services.teams import Progress
from bot.store.teams import Team
from bot.web.app import create_app
from bot.worker.outbox import Worker
from tests.kit.chat import Chat
from tests.kit.fulfil import pay


async def teams_leave(runtime: Runtime, chat: Chat) -> None:
    """Leave the team again (the test counts two members)."""
    await chat.say("/team")
    await chat.tap("team:leave")
    await chat.tap("team:leave_yes")
    assert "您已退出团队" in chat.text


async def make_team(chat: Chat, name: str = "绿色先锋队", target: str = "8") -> str:
    """Make a team for any base; its code."""
    await chat.say("/team")
    await chat.tap("team:create")
    await chat.say(name)
    await chat.tap("base:any")
    await chat.say(target)
    assert "团队“" in chat.text and "已建立" in chat.text, chat.text
    (team,) = await chat.engine.services.teams.all()
    return team.code


async def test_a_team_made_joined_counted_and_certified(
    runtime: Runtime, settings: Settings
) -> None:
    organiser = Chat(runtime.engine, user_id="t1", display_name="张三")
    code = await make_team(organiser)
    assert organiser.last.image is not None or any(m.image for m in organiser.replies)  # QR
    member = Chat(runtime.engine, user_id="t2", channel="wechat")
    await member.say(f"/join {code.lower()}")  # typed as people type it
    assert "您已加入团队“绿色先锋队”" in member.text
    linked = Chat(runtime.engine, user_id="t9", channel="telegram")
    await linked.say(f"/start join-{code}")  # Telegram's deep link t.me/BOT?start=join-CODE
    assert "您已加入团队“绿色先锋队”" in linked.text
    await teams_leave(runtime, linked)
    await member.say(f"/join {code}")
    assert "已经在这个团队里" in member.text
    await organiser.pledge("jinkui", "donation", "100", "张三丰")  # 5 trees
    await member.pledge("jinkui", "donation", "60", "李四")  # 3 trees
    teams = runtime.teams
    (team,) = await teams.all()
    progress = await teams.progress(team)
    assert (progress.pledged, progress.fulfilled) == (8, 0)
    assert progress.members == ("张*丰", "李*")
    assert await pay(runtime, "test:t1")
    assert (await teams.progress(team)).fulfilled == 5 and not (await teams.all())[0].serial
    assert await pay(runtime, "wechat:t2")
    (team,) = await teams.all()
    assert team.serial.startswith("WX") and team.certified  # the target of 8 reached
    await Worker(runtime, Port({}, runtime.store.users)).run_once()  # the organiser is told
    await organiser.say("/help")
    assert "集体尽责证书编号" in organiser.text
    async with TestClient(TestServer(create_app(settings, runtime))) as client:
        page = await (await client.get(f"/teams/{code}")).text()
        assert "绿色先锋队" in page and "张*丰" in page and "张三丰" not in page
        assert "李四" not in page and "/join " + code in page
        verified = await (await client.get(f"/verify/{team.serial}")).text()
        assert "集体尽责证书" in verified and "绿色先锋队" in verified
        png = await client.get(f"/teams/{code}/certificate.png")
        assert png.status == 200 and png.content_type == "image/png"
        assert (await client.get("/teams/NOPE00")).status == 404
    await organiser.say("/team")
    assert "8 / 8 株（100%）" in organiser.text


async def test_one_team_a_year_and_leaving(runtime: Runtime) -> None:
    first = await make_team(Chat(runtime.engine, user_id="a1"), "一队")
    other = Chat(runtime.engine, user_id="a2")
    await other.say("/team")
    await other.tap("team:create")
    await other.say("二队")
    await other.tap("base:jinkui")
    await other.say("50")
    codes = {t.name: t.code for t in await runtime.teams.all()}
    member = Chat(runtime.engine, user_id="a3")
    await member.say(f"/join {first}")
    await member.say(f"/join {codes['二队']}")
    assert "每人每年只能加入一个团队" in member.text
    assert await runtime.teams.mine(UserKey("test:a3"), 2026) is not None
    await member.say("/team")
    await member.tap("team:leave")
    await member.tap("team:leave_yes")
    assert "您已退出团队“一队”" in member.text
    await member.say(f"/join {codes['二队']}")
    assert "您已加入团队“二队”" in member.text


async def test_bad_input_gets_a_clear_answer_and_changes_nothing(runtime: Runtime) -> None:
    chat = Chat(runtime.engine, user_id="b1")
    await chat.say("/join ZZZZZZ")
    assert "没有找到加入码为“ZZZZZZ”的团队" in chat.text
    await chat.say("/team")
    await chat.tap("team:create")
    await chat.say("长" * 200)
    assert "最多 30 个字" in chat.text
    await chat.say("\x07\x1b\u200b")
    assert "请输入团队名称" in chat.text
    await chat.say("🌳🌳")
    assert "无法打印" in chat.text
    await chat.say("好队")
    await chat.tap("base:any")
    await chat.say("1000000")
    assert "最多 100000 株" in chat.text
    await chat.tap("nav:cancel")
    assert await runtime.teams.all() == []


async def test_a_teams_page_reads_its_members_once_a_minute(
    runtime: Runtime, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = await make_team(Chat(runtime.engine, user_id="c1"))
    reads = []
    progress = runtime.teams.progress

    async def counted(team: Team) -> Progress:
        reads.append(team.code)
        return await progress(team)

    monkeypatch.setattr(runtime.teams, "progress", counted)
    async with TestClient(TestServer(create_app(settings, runtime))) as client:
        for _ in range(5):
            assert (await client.get(f"/teams/{code}")).status == 200
        for n in range(20):  # strangers' codes read nothing and keep nothing
            assert (await client.get(f"/teams/X{n:05d}")).status == 404
    assert reads == [code]
