"""Sharing a certificate: the share poster (portrait 1080x1920, the masked name, the trees, the
base, the year, thanks, the QR code to /verify) from /mine on every channel, kept like the
certificate, never for someone else's certificate."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image

from bot.runtime import Runtime
from bot.services.certificates import poster_of
from tests.kit.chat import Chat
from tests.kit.fulfil import pay


async def certified(runtime: Runtime, user: str) -> tuple[Chat, str]:
    chat = Chat(runtime.engine, user_id=user)
    await chat.pledge("jinkui", "donation", "100", "张三丰")
    serial = await pay(runtime, f"test:{user}")
    assert serial is not None
    return chat, serial


async def test_mine_offers_a_poster_with_the_masked_name_and_a_qr_to_verify(
    runtime: Runtime,
) -> None:
    chat, serial = await certified(runtime, "s1")
    await chat.say("/mine")
    assert f"share:{serial}" in chat.choices and "📤 分享：无锡经开区金匮公园" in [
        b.label for b in chat.last.buttons
    ]
    await chat.tap(f"share:{serial}")
    shared = next(m for m in chat.replies if m.poster)
    assert shared.poster == serial and "长按图片" in shared.text and shared.image is not None
    with Image.open(io.BytesIO(shared.image)) as poster:
        assert poster.format == "JPEG" and poster.size == (1080, 1920)
        (code,) = zxingcpp.read_barcodes(poster)
    assert code.text.endswith(f"/verify/{serial}")
    pledge = await runtime.pledges.by_serial(serial)
    assert pledge is not None
    said = poster_of(pledge, runtime.catalog, "https://x")
    assert said.name == "张*丰" and "张三丰" not in str(said) and said.trees == "5 株树"
    again = await runtime.certificates.poster(serial)
    assert again == shared.image  # kept, not drawn again


async def test_someone_elses_certificate_cannot_be_shared(runtime: Runtime) -> None:
    _, serial = await certified(runtime, "s2")
    other, _ = await certified(runtime, "s3")
    await other.say("/mine")
    await other.tap(f"share:{serial}")
    assert not [m for m in other.replies if m.poster] and "选择" in other.text
