"""Turns of one user are serialised; turns of many users run side by side."""

from __future__ import annotations

import asyncio

from bot.engine import Engine
from bot.model import Turn
from bot.runtime import Runtime
from tests.kit.chat import Chat
from tests.kit.fulfil import pay


async def test_two_turns_of_one_user_at_once_leave_consistent_state(
    chat: Chat, runtime: Runtime
) -> None:
    await chat.say("/pledge")
    first, second = await asyncio.gather(chat.tap("base:jinkui"), chat.tap("base:guzhuang"))
    texts = ["\n".join(m.text for m in replies) for replies in (first, second)]
    assert sum("按钮已经过期" in t for t in texts) == 1  # the later one saw the new question
    assert sum("以哪种方式尽责" in t for t in texts) == 2
    await chat.tap("form:donation")
    assert "请输入捐资金额" in chat.last.text


async def test_many_turns_of_one_user_at_once_all_get_answers(runtime: Runtime) -> None:
    turns = [Turn("test", "busy", text="/start", message_id=f"b{i}") for i in range(20)]
    results = await asyncio.gather(*(runtime.engine.handle(t) for t in turns))
    assert all(len(r) == 1 and "全民义务植树" in r[0].text for r in results)


async def test_a_hundred_users_in_parallel_get_their_own_certificates(runtime: Runtime) -> None:
    chats = [Chat(runtime.engine, user_id=f"p{i}", display_name=f"用户{i}") for i in range(100)]
    await asyncio.gather(
        *(c.pledge("jinkui", "donation", "60", f"用户{i}") for i, c in enumerate(chats))
    )
    serials = await asyncio.gather(*(pay(runtime, f"test:p{i}") for i in range(100)))
    assert None not in serials and len(set(serials)) == 100
    for i in (0, 57, 99):
        pledge = await runtime.pledges.by_serial(serials[i] or "")
        assert pledge is not None and pledge.name == f"用户{i}" and pledge.user_key == f"test:p{i}"


async def test_the_conversation_survives_a_new_engine(chat: Chat, runtime: Runtime) -> None:
    await chat.say("/pledge")
    await chat.tap("base:jinkui")
    restarted = Engine(runtime.store, runtime.engine.services, runtime.engine.flows)
    chat.engine = restarted
    await chat.tap("form:donation")
    assert "请输入捐资金额" in chat.last.text
