"""Back and cancel from every step, by button, by typed label and by command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from bot.model import UserKey
from bot.runtime import Runtime
from tests.kit.chat import Chat
from tests.kit.fulfil import pay

Walk = Callable[[Chat], Awaitable[None]]


async def to_base(chat: Chat) -> None:
    await chat.say("/pledge")


async def to_form(chat: Chat) -> None:
    await to_base(chat)
    await chat.tap("base:jinkui")


async def to_amount(chat: Chat) -> None:
    await to_form(chat)
    await chat.tap("form:donation")


async def to_trees(chat: Chat) -> None:
    await to_form(chat)
    await chat.tap("form:adoption")


async def to_name(chat: Chat) -> None:
    await to_amount(chat)
    await chat.say("100")


async def to_confirm(chat: Chat) -> None:
    await to_name(chat)
    await chat.say("张三")


# each step, and the text of the question that back leads to (None: the main menu)
STEPS: list[tuple[Walk, str | None]] = [
    (to_base, None),
    (to_form, "请选择尽责基地"),
    (to_amount, "以哪种方式尽责"),
    (to_trees, "以哪种方式尽责"),
    (to_name, "请输入捐资金额"),
    (to_confirm, "证书上印什么姓名"),
]


@pytest.mark.parametrize(("walk", "previous"), STEPS)
async def test_back_returns_to_the_previous_question(
    chat: Chat, walk: Walk, previous: str | None
) -> None:
    await walk(chat)
    await chat.tap("nav:back")
    if previous is None:
        assert chat.choices[0] == "menu:pledge"
    else:
        assert previous in chat.last.text and chat.choices[-2:] == ["nav:back", "nav:cancel"]


@pytest.mark.parametrize("walk", [w for w, _ in STEPS])
@pytest.mark.parametrize("how", ["button", "label", "command"])
async def test_cancel_leaves_the_flow_and_records_nothing(
    chat: Chat, runtime: Runtime, walk: Walk, how: str
) -> None:
    await walk(chat)
    if how == "button":
        await chat.tap("nav:cancel")
    elif how == "label":
        await chat.say("取消")
    else:
        await chat.say("/cancel")
    assert "已取消" in chat.text and chat.choices[0] == "menu:pledge"
    assert await runtime.store.pledges.of_user(UserKey("test:u1")) == {}


async def test_typed_back_label_and_command(chat: Chat) -> None:
    await to_confirm(chat)
    await chat.say("返回")
    assert "证书上印什么姓名" in chat.last.text
    await chat.say("/back")
    assert "请输入捐资金额" in chat.last.text


async def test_back_keeps_earlier_answers_and_the_journey_completes(
    chat: Chat, runtime: Runtime
) -> None:
    await to_confirm(chat)
    await chat.tap("nav:back")
    await chat.tap("nav:back")
    await chat.say("200")
    await chat.say("李四")
    assert "无锡经开区金匮公园" in chat.text and "200 元" in chat.text
    await chat.tap("confirm")
    assert "200 元" in chat.text and await pay(runtime, "test:u1") is not None


@pytest.mark.parametrize("command", ["/mine", "/lang", "/forget"])
async def test_account_steps_offer_back_and_cancel(chat: Chat, command: str) -> None:
    await chat.pledge("jinkui", "donation", "100", "张三")
    await chat.say(command)
    assert chat.choices[-2:] == ["nav:back", "nav:cancel"]
    await chat.tap("nav:cancel")
    assert chat.choices[0] == "menu:pledge"


async def test_a_command_in_the_middle_of_a_flow_starts_over_cleanly(chat: Chat) -> None:
    await to_name(chat)
    await chat.say("/help")
    await chat.say("/pledge")
    assert "请选择尽责基地" in chat.last.text
