"""Bad input gets a clear answer, the same question again, and changes nothing."""

from __future__ import annotations

import pytest

from bot.model import UserKey
from bot.runtime import Runtime
from tests.kit.chat import Chat
from tests.kit.fulfil import pay


async def at_amount(chat: Chat) -> None:
    await chat.say("/pledge")
    await chat.tap("base:jinkui")
    await chat.tap("form:donation")


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("", "请输入一个数字"),
        ("abc", "请输入一个数字"),
        ("😀", "请输入一个数字"),
        ("0", "数量需要大于 0"),
        ("-5", "数量需要大于 0"),
        ("12.5", "请输入整数"),
        ("100001", "最多 100000 元"),
        ("9" * 5000, "最多 100000 元"),
        ("\u202e001\u202c", "请输入一个数字"),
        ("1\x00\x07", "请输入一个数字"),
    ],
)
async def test_bad_amounts_ask_again(chat: Chat, runtime: Runtime, typed: str, hint: str) -> None:
    await at_amount(chat)
    await chat.say(typed)
    assert hint in chat.text
    assert "请输入捐资金额" in chat.last.text and chat.choices[0] == "yuan:60"
    assert await runtime.store.pledges.of_user(UserKey("test:u1")) == {}


async def test_full_width_digits_and_units_are_understood(chat: Chat) -> None:
    await at_amount(chat)
    await chat.say("１２０元")
    assert "120 元折合植树 6 株" in chat.text


async def test_a_typed_number_is_an_amount_not_a_choice_index(chat: Chat) -> None:
    await at_amount(chat)
    await chat.say("2")  # not the second quick pick (100 元): an amount, and too small
    assert "至少 20 元" in chat.text and "100 元" not in chat.text
    await chat.say("40")
    assert "40 元折合植树 2 株" in chat.text and "再捐 20 元" in chat.text


@pytest.mark.parametrize(
    "typed", ["", " ", "x" * 5000, "🌳🌲", "\u05e9\u05dc\u05d5\u05dd", "\x1b[31m"]
)
async def test_odd_text_at_a_choice_gets_a_hint(chat: Chat, typed: str) -> None:
    await chat.say("/pledge")
    await chat.say(typed)
    assert "请从列表中选择一个基地" in chat.text
    assert len([c for c in chat.choices if c.startswith("base:")]) == 8


async def test_odd_text_with_no_flow_shows_the_menu(chat: Chat) -> None:
    await chat.say("x" * 5000)
    assert "没太明白" in chat.text and chat.choices[0] == "menu:pledge"


async def test_unknown_command_is_named_and_menu_offered(chat: Chat) -> None:
    await chat.say("/plant")
    assert "/plant" in chat.text and chat.choices[0] == "menu:pledge"


async def test_stale_button_is_refused_and_question_repeated(chat: Chat, runtime: Runtime) -> None:
    await chat.say("/pledge")
    await chat.tap("base:jinkui")
    await chat.tap("base:guzhuang")  # a button of the previous question
    assert "按钮已经过期" in chat.text and "form:donation" in chat.choices
    await chat.pledge("jinkui", "donation", "100", "张三")
    await chat.tap("confirm")  # the confirm button again, after the pledge was made
    assert "按钮已经过期" in chat.text
    assert len(await runtime.store.pledges.of_user(UserKey("test:u1"))) == 1


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("😀🎉", "证书字体里没有“😀”（U+1F600）"),
        ("\x00\x01\u200b", "没有能印在证书上的文字"),
        ("60", "姓名不能只是数字"),
        ("６ ０", "姓名不能只是数字"),
        ("张" * 21, "最多 20 个字"),
    ],
)
async def test_unprintable_or_long_names_ask_again(chat: Chat, typed: str, hint: str) -> None:
    await at_amount(chat)
    await chat.say("100")
    await chat.say(typed)
    assert hint in chat.text and "证书上印什么姓名" in chat.last.text


async def test_controls_are_left_out_of_the_name_and_emoji_refused(chat_en: Chat) -> None:
    await chat_en.say("/pledge")
    await chat_en.tap("base:jinkui")
    await chat_en.tap("form:adoption")
    await chat_en.say("3")
    await chat_en.say("  Ann\x07 🌳 Lee  ")
    assert "no “🌳” (U+1F333)" in chat_en.text  # refused, naming the character
    await chat_en.say("  Ann\x07 Lee  ")
    assert "Name on the certificate: Ann Lee" in chat_en.text


@pytest.mark.parametrize("name", ["Ñandú Ōta-Łukasz", "Ἀλέξης Ґалина", "张\U0002a6a5丰"])
async def test_names_print_as_typed(chat_en: Chat, runtime: Runtime, name: str) -> None:
    await chat_en.say("/pledge")
    await chat_en.tap("base:jinkui")
    await chat_en.tap("form:adoption")
    await chat_en.say("3")
    await chat_en.say(name)
    assert f"Name on the certificate: {name}" in chat_en.text
    await chat_en.tap("confirm")
    serial = await pay(runtime, "test:u2")
    assert serial is not None
    pledge = await runtime.pledges.by_serial(serial)
    assert pledge is not None and pledge.name == name


async def test_a_replayed_message_records_one_pledge(chat: Chat, runtime: Runtime) -> None:
    await at_amount(chat)
    await chat.say("100")
    await chat.say("张三")
    first = await chat.tap("confirm", message_id="same")
    again = await chat.tap("confirm", message_id="same")
    assert first and "参考码" in "".join(m.text for m in first) and again == []
    assert len(await runtime.store.pledges.of_user(UserKey("test:u1"))) == 1


async def test_nothing_worth_less_than_a_tree_is_recorded(chat: Chat, runtime: Runtime) -> None:
    await chat.say("/pledge")
    await chat.tap("base:jinkui")
    await chat.tap("form:donation")
    assert chat.last.typed == "回复数字，如 60 元、100 元、200 元；或回复 ⬅ 返回 / ✖ 取消"
    assert [b.id for b in chat.last.buttons][:3] == ["yuan:60", "yuan:100", "yuan:200"]
    for typed in ("1", "4", "19", "0"):
        await chat.say(typed)
        assert "至少 20 元" in chat.text or "大于 0" in chat.text
    await chat.say("20")
    assert "折合植树 1 株" in chat.text
    await chat.say("/pledge")
    await chat.tap("base:jinkui")
    await chat.tap("form:adoption")
    await chat.say("0")
    assert "数量需要大于 0" in chat.text
    assert await runtime.store.pledges.of_user(UserKey("test:u1")) == {}
