"""A dedication ("献给女儿小满"): offered at the confirmation, printed under the name on the
certificate, never on the public verification page; refused like a name when it cannot be
printed, and a refusal changes nothing."""

from __future__ import annotations

import dataclasses

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.model import UserKey
from bot.render.certificate import CertificateRenderer
from bot.runtime import Runtime
from bot.services.pledges import PledgeStatus
from bot.web.app import create_app
from tests.kit.chat import Chat
from tests.kit.fulfil import pay

DEDICATION = "献给女儿小满"


async def to_confirmation(chat: Chat) -> None:
    await chat.say("/pledge")
    await chat.tap("base:jinkui")
    await chat.tap("form:donation")
    await chat.say("100")
    await chat.say("张三丰")


async def test_a_dedication_is_printed_but_never_shown_on_the_verify_page(
    runtime: Runtime, settings: Settings
) -> None:
    chat = Chat(runtime.engine, user_id="d1")
    await to_confirmation(chat)
    assert chat.choices[:2] == ["confirm", "dedicate"]
    await chat.tap("dedicate")
    assert "不会显示在公开的证书核验页上" in chat.text and "dedication:none" in chat.choices
    await chat.say(f"  {DEDICATION} ")
    assert f"题献：{DEDICATION}" in chat.text and "不在核验页显示" in chat.text
    await chat.tap("confirm")
    serial = await pay(runtime, "test:d1")
    assert serial is not None
    pledge = await runtime.pledges.by_serial(serial)
    assert pledge is not None and pledge.dedication == DEDICATION
    card = runtime.certificates.card_of(pledge)
    assert card.dedication == DEDICATION
    plain = CertificateRenderer().draw(dataclasses.replace(card, dedication=""))
    drawn = CertificateRenderer().draw(card)
    band = (0, 430, drawn.width, 520)  # under the name: the dedication's line
    assert drawn.crop(band).tobytes() != plain.crop(band).tobytes()
    async with TestClient(TestServer(create_app(settings, runtime))) as client:
        page = await (await client.get(f"/verify/{serial}")).text()
    assert "张*丰" in page and DEDICATION not in page and "小满" not in page


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("\x07\x1b\u200b", "请输入题献"),  # control and format characters only
        ("为" * 21, "最多 20 个字"),
        ("献给🌳", "无法打印"),
    ],
)
async def test_a_dedication_that_cannot_be_printed_is_asked_again(
    runtime: Runtime, typed: str, hint: str
) -> None:
    chat = Chat(runtime.engine, user_id="d2")
    await to_confirmation(chat)
    await chat.tap("dedicate")
    await chat.say(typed)
    assert hint in chat.text and "dedication:none" in chat.choices  # the same question
    await chat.tap("dedication:none")
    assert "题献" not in chat.text.split("证书姓名")[1]  # the confirmation, undedicated
    await chat.tap("confirm")
    (pledge,) = await runtime.pledges.of_user(UserKey.of("test", chat.user_id))
    assert pledge.dedication == "" and pledge.status == PledgeStatus.PLEDGED


async def test_a_dedication_can_be_changed_or_taken_back_before_confirming(
    runtime: Runtime,
) -> None:
    chat = Chat(runtime.engine, user_id="d3", locale="en")
    await to_confirmation(chat)
    await chat.tap("dedicate")
    assert "not shown on the public verification page" in chat.text
    await chat.say("In memory of grandpa")
    assert "Dedication: In memory of grandpa" in chat.text
    await chat.tap("dedicate")
    await chat.tap("nav:back")  # back: the confirmation, the dedication kept
    assert "Dedication: In memory of grandpa" in chat.text
    await chat.tap("dedicate")
    await chat.tap("dedication:none")
    assert "Dedication" not in chat.text
    await chat.tap("confirm")
    (pledge,) = await runtime.pledges.of_user(UserKey.of("test", chat.user_id))
    assert pledge.dedication == ""
