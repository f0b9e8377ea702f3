"""The web server through aiohttp's test client, against the real app and real Redis."""

from __future__ import annotations

import base64
import dataclasses
import io
import ipaddress
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from bot.catalog import load_catalog
from bot.channels import web as web_chat
from bot.channels.port import Port
from bot.config import Settings
from bot.model import UserKey
from bot.ops.embedded import EmbeddedRedis
from bot.runtime import Runtime, build_runtime
from bot.services import signing
from bot.store import Store, connect
from bot.store.payments import Receipt
from bot.web.app import create_app
from bot.worker.outbox import Worker
from tests.kit.fulfil import photo
from tests.kit.store import contents


@pytest.fixture
async def stranger(settings: Settings, runtime: Runtime) -> AsyncIterator[TestClient[Any, Any]]:
    """A client that has not opened the chat page (no visitor cookie)."""
    async with TestClient(TestServer(create_app(settings, runtime))) as client:
        yield client


@pytest.fixture
async def client(stranger: TestClient[Any, Any]) -> TestClient[Any, Any]:
    """A visitor: opened /chat and got its signed cookie."""
    assert (await stranger.get("/chat")).status == 200
    return stranger


_LOGS: dict[int, list[dict[str, Any]]] = {}


def client_log(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    """Every message the bot sent this client."""
    return _LOGS.setdefault(id(client), [])


async def say(client: TestClient[Any, Any], **body: Any) -> list[dict[str, Any]]:
    response = await client.post("/chat/api", json=body, headers={"Accept-Language": "zh-CN"})
    assert response.status == 200, await response.text()
    messages: list[dict[str, Any]] = (await response.json())["messages"]
    client_log(client).extend(messages)
    if messages and any(b["id"] == "privacy:agree" for b in messages[-1]["buttons"]):
        await say(client, choice="privacy:agree")  # a visitor who agrees, aged 14-55
        return await say(client, choice="age:adult")
    return messages


async def pledge_on_the_web(
    client: TestClient[Any, Any], runtime: Runtime, name: str = "张三丰"
) -> str:
    """Pledge 100 yuan on the web, pay it the link-out way (a receipt imported with the
    reference the chat gave), and see the certificate arrive at the next turn."""
    await say(client, text="/start")
    await say(client, choice="menu:pledge")
    await say(client, text="金匮")
    await say(client, choice="form:donation")
    await say(client, text="100")
    summary = await say(client, text=name)
    assert "请确认" in summary[-1]["text"]
    done = await say(client, choice="confirm")
    assert not any("certificate" in m for m in done)  # nothing paid yet
    reference = re.search(r"参考码：([0-9A-Z]{8})", "".join(m["text"] for m in done))
    assert reference is not None
    receipt = Receipt(reference.group(1), 100, "2026-03-12 10:00", f"R{reference.group(1)}")
    await runtime.payments.import_receipts([(2, receipt)])
    await Worker(runtime, Port({}, runtime.store.users)).run_once()  # the certificate notice
    arrived = await say(client, text="/help")
    certificate = arrived[0]["certificate"]
    assert "尽责承诺已完成" in arrived[0]["text"]
    assert certificate["image"].startswith(f"/certificates/{certificate['serial']}.png?t=")
    return str(certificate["serial"])


async def image_of(client: TestClient[Any, Any], runtime: Runtime) -> dict[str, str]:
    """A fresh pledge's certificate links, as the web chat gives them."""
    await pledge_on_the_web(client, runtime)
    (said,) = [m for m in client_log(client) if "certificate" in m]
    return said["certificate"]  # type: ignore[no-any-return]


def web_visitor(client: TestClient[Any, Any], runtime: Runtime) -> str:
    """The visitor id inside the client's signed cookie."""
    cookie = next(c for c in client.session.cookie_jar if c.key == web_chat.COOKIE)
    visitor = signing.unsign(runtime.pledges.secret, web_chat.PURPOSE, cookie.value)
    assert visitor is not None
    return visitor


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_the_whole_journey_through_the_json_endpoint(
    stranger: TestClient[Any, Any], runtime: Runtime
) -> None:
    client = stranger
    page = await client.get("/chat")
    assert page.status == 200 and "无锡全民义务植树网上尽责" in await page.text()
    assert web_chat.COOKIE in page.cookies
    first = await say(client, text="/start")
    assert "全民义务植树" in first[0]["text"]
    assert first[0]["buttons"][0]["id"] == "menu:pledge"
    await pledge_on_the_web(client, runtime)
    links = next(m["certificate"] for m in client_log(client) if "certificate" in m)
    image = await client.get(links["image"])
    assert image.status == 200 and image.content_type == "image/png"
    assert image.headers["Cache-Control"] == "private, max-age=86400"  # revocable: a day
    again = await client.get(links["download"])
    assert await image.read() == await again.read()
    assert "attachment" in again.headers["Content-Disposition"]
    assert links["verify"] == f"/verify/{links['serial']}?lang=zh"


async def test_a_reload_carries_on_where_the_visitor_left(client: TestClient[Any, Any]) -> None:
    await say(client, text="/pledge")
    await say(client, text="金匮")
    await client.get("/chat")  # the page again, same cookie
    resumed = await say(client, text="/resume")
    assert "欢迎回来" in resumed[0]["text"] and "以哪种方式尽责" in resumed[-1]["text"]


async def test_english_visitors_get_english(client: TestClient[Any, Any]) -> None:
    page = await client.get("/chat", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert "Wuxi Online Tree-Planting Duty" in await page.text()
    response = await client.post(
        "/chat/api", json={"text": "/start"}, headers={"Accept-Language": "en-US"}
    )
    assert "Hello" in (await response.json())["messages"][0]["text"]


async def test_verification_of_a_real_serial(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    serial = await pledge_on_the_web(client, runtime)
    response = await client.get(f"/verify/{serial}")
    html = await response.text()
    assert response.status == 200
    assert "张*丰" in html and "张三丰" not in html
    for shown in ("2026", "无锡经开区金匮公园", "捐资", serial):
        assert shown in html
    english = await client.get(f"/verify/{serial}?lang=en")
    assert "valid" in await english.text()


@pytest.mark.parametrize(
    "serial",
    [
        "WX2026-0000000000-000000",  # well formed, wrong check code
        "WX2026-ABC",
        "%3Cscript%3E",
        "x" * 300,
    ],
)
async def test_bad_serials_get_a_404_page_that_reveals_nothing(
    client: TestClient[Any, Any], serial: str
) -> None:
    for path in (f"/verify/{serial}", f"/certificates/{serial}.png"):
        response = await client.get(path)
        assert response.status == 404
        assert "没有找到这张证书" in await response.text()


async def test_a_forged_check_code_is_404(client: TestClient[Any, Any], runtime: Runtime) -> None:
    serial = await pledge_on_the_web(client, runtime)
    forged = serial[:-1] + ("A" if serial[-1] != "A" else "B")
    before = await contents(runtime.store)
    assert (await client.get(f"/verify/{forged}")).status == 404
    assert await contents(runtime.store) == before


async def test_names_are_escaped_on_the_verify_page(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    serial = await pledge_on_the_web(client, runtime, name="<b>李</b>")
    html = await (await client.get(f"/verify/{serial}")).text()
    assert "<b>" not in html and "&lt;******&gt;" in html


async def test_metrics_move_after_a_journey(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    before = await (await client.get("/metrics")).text()
    await pledge_on_the_web(client, runtime)
    response = await client.get("/metrics")
    after = await response.text()
    assert response.headers["Content-Type"].startswith("text/plain")
    turns = 'bot_turns_total{channel="web",outcome="ok"}'
    assert metric(after, turns) - metric(before, turns) == 10  # 2: the notice, the age
    issued = "bot_certificates_issued_total"
    assert metric(after, issued) - metric(before, issued) == 1
    assert 'bot_turn_seconds_bucket{channel="web"' in after


async def test_oversized_malformed_and_unknown_requests(client: TestClient[Any, Any]) -> None:
    big = await client.post(
        "/chat/api", data=b"{" + b"a" * 70_000, headers={"Content-Type": "application/json"}
    )
    assert big.status == 413
    for body in (
        b"not json",
        b"[1, 2]",
        b'{"text": 5}',
        b'{"choice": ["x"]}',
        b'{"text": "hi", "message_id": ""}',
        b"\xff\xfe",
    ):
        response = await client.post(
            "/chat/api", data=body, headers={"Content-Type": "application/json"}
        )
        assert response.status == 400, body
        assert "error" in await response.json()
    missing = await client.get("/no/such/page")
    assert missing.status == 404 and "这个页面不存在" in await missing.text()
    assert (await client.get("/healthz")).status == 200  # still healthy


async def test_odd_text_through_the_endpoint(client: TestClient[Any, Any]) -> None:
    for text in ("", "x" * 5000, "🌳" * 100, "\u202e\u05e9\u05dc\u05d5\u05dd", "\x00\x1b[2J"):
        messages = await say(client, text=text)
        assert messages and messages[-1]["buttons"]


async def test_a_replayed_message_id_gets_no_second_effect(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    await say(client, text="/pledge")
    await say(client, text="金匮")
    await say(client, choice="form:donation")
    await say(client, text="100")
    await say(client, text="张三")
    first = await say(client, choice="confirm", message_id="retry-1")
    second = await say(client, choice="confirm", message_id="retry-1")
    assert "参考码" in first[-1]["text"] and second == []
    assert len(await runtime.pledges.of_user(UserKey(f"web:{web_visitor(client, runtime)}"))) == 1


async def test_a_flood_is_slowed_down(client: TestClient[Any, Any]) -> None:
    statuses = []
    for _ in range(web_chat.FLOOD_LIMIT + 3):
        response = await client.post("/chat/api", json={"text": "/help"})
        statuses.append(response.status)
    assert statuses[: web_chat.FLOOD_LIMIT] == [200] * web_chat.FLOOD_LIMIT
    assert statuses[-1] == 429
    assert "请稍等" in (await response.json())["messages"][0]["text"]


async def test_health_follows_redis(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    store = Store(connect(url), prefix="health:")
    settings = Settings(redis_url=url, data_dir=tmp_path, bot_secret="h" * 16)
    runtime = await build_runtime(settings, store, load_catalog())
    try:
        async with TestClient(TestServer(create_app(settings, runtime))) as client:
            up = await client.get("/healthz")
            assert up.status == 200 and (await up.json())["redis"] == "up"
            server.stop()
            down = await client.get("/healthz")
            assert down.status == 503 and (await down.json())["status"] == "unavailable"
            server = EmbeddedRedis(tmp_path / "redis")
            server.start()
            assert (await client.get("/healthz")).status == 200
    finally:
        await store.close()
        server.stop()


async def test_booking_through_the_web_chat(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    start = int(time.time()) + 48 * 3600
    slot = await runtime.bookings.add_slot("jinkui", start, start + 3 * 3600, 5, "植树")
    await say(client, text="/book")
    await say(client, text="金匮")
    asked = await say(client, choice=f"slot:{slot.id}")
    assert "证书上印什么姓名" in asked[-1]["text"]
    assert "name:suggested" not in [b["id"] for b in asked[-1]["buttons"]]  # no platform name
    assert "下面" not in asked[-1]["text"]  # so nothing "below" to pick
    done = await say(client, text="王小红")
    assert "预约成功" in done[0]["text"]
    png = base64.b64decode(done[0]["image"].removeprefix("data:image/png;base64,"))
    (read,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))  # the code, to show at the gate
    code = await runtime.bookings.slots.bookings(UserKey(f"web:{web_visitor(client, runtime)}"))
    assert read.text == code[slot.id].code
    await runtime.bookings.cancel_slot(slot.id)
    await Worker(runtime, Port({}, runtime.store.users)).run_once()
    later = await say(client, text="/help")  # the web user gets the news at the next turn
    assert "已取消" in later[0]["text"] and "/book" in later[0]["text"]


async def test_a_client_cannot_mint_visitors(
    stranger: TestClient[Any, Any], runtime: Runtime
) -> None:
    for _ in range(100):  # no cookie: refused, and nothing is stored
        refused = await stranger.post("/chat/api", json={"text": "/start"})
        assert refused.status == 401 and "刷新页面" in (await refused.json())["error"]
    forged = {web_chat.COOKIE: "A" * 24}  # a cookie we did not sign
    response = await stranger.post("/chat/api", json={"text": "/start"}, cookies=forged)
    assert response.status == 401
    assert [k async for k in runtime.store.redis.scan_iter(match=f"{runtime.store.prefix}*")] == []


async def test_a_visit_that_stops_at_its_first_turn_expires_within_a_day(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    await say(client, text="/start")
    (session,) = [
        k async for k in runtime.store.redis.scan_iter(match=f"{runtime.store.prefix}*:session")
    ]
    assert 0 < await runtime.store.redis.ttl(session) <= 24 * 3600
    await say(client, text="/pledge")
    assert await runtime.store.redis.ttl(session) > 29 * 24 * 3600


async def test_one_address_is_limited_whatever_its_cookies(
    settings: Settings, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_chat, "ADDRESS_LIMIT", 5)
    proxy = dataclasses.replace(settings, trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))
    async with TestClient(TestServer(create_app(proxy, runtime))) as client:

        async def visit(forwarded: str) -> int:
            client.session.cookie_jar.clear()  # a new visitor each time
            await client.get("/chat")
            headers = {"X-Forwarded-For": forwarded}
            return (await client.post("/chat/api", json={"text": "/help"}, headers=headers)).status

        assert [await visit("203.0.113.7") for _ in range(6)] == [200] * 5 + [429]
        assert await visit("198.51.100.9") == 200  # another address behind the proxy
        assert await visit("1.2.3.4, 203.0.113.7") == 429  # a client-made entry is not believed


async def test_forwarded_addresses_are_ignored_from_untrusted_peers(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_chat, "ADDRESS_LIMIT", 3)
    statuses = []
    for i in range(4):
        client.session.cookie_jar.clear()
        await client.get("/chat")
        headers = {"X-Forwarded-For": f"198.51.100.{i}"}  # made up by the client: not believed
        statuses.append(
            (await client.post("/chat/api", json={"text": "/help"}, headers=headers)).status
        )
    assert statuses == [200, 200, 200, 429]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1000 + b"]" * 1000,
        b'{"text": ' + b"[" * 100 + b"]" * 100 + b"}",
        b'{"text": "/\\ud800"}',
        b'{"text": "hi", "message_id": "\\udfff"}',
        b'{"text": "hi", "choice": "\\ud83c"}',
        b'{"text": "hi", "\\udc00": 1}',  # in a key
        b'{"text": "\xff\xfe"}',  # not UTF-8 at all
    ],
)
async def test_deep_and_broken_unicode_bodies_get_400_and_store_nothing(
    client: TestClient[Any, Any], runtime: Runtime, body: bytes
) -> None:
    before = [k async for k in runtime.store.redis.scan_iter(match=f"{runtime.store.prefix}*")]
    response = await client.post(
        "/chat/api", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    after = [k async for k in runtime.store.redis.scan_iter(match=f"{runtime.store.prefix}*")]
    assert after == before


async def test_the_image_needs_its_owners_link_and_is_rendered_once(
    client: TestClient[Any, Any], runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    links = await image_of(client, runtime)
    serial = links["serial"]
    html = await (await client.get(f"/verify/{serial}")).text()
    assert "/certificates/" not in html  # the public page does not link the full name
    assert (await client.get(f"/certificates/{serial}.png")).status == 404
    forged = links["image"][:-3] + ("AAA" if not links["image"].endswith("AAA") else "BBB")
    assert (await client.get(forged)).status == 404
    renders = []
    render = runtime.certificates.renderer.render
    monkeypatch.setattr(
        runtime.certificates.renderer,
        "render",
        lambda pledge, kind="png": renders.append(pledge) or render(pledge, kind),
    )
    first = await client.get(links["image"])
    assert first.status == 200
    for _ in range(20):
        assert (await client.get(links["image"])).status == 200
    cached = await client.get(links["image"], headers={"If-None-Match": first.headers["ETag"]})
    assert cached.status == 304
    assert len(renders) == 1  # rendered for the first request, never again


async def test_outage_pages_in_the_visitors_language(tmp_path: Path, settings: Settings) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    store = Store(connect(url), prefix="outage:")
    try:
        runtime = await build_runtime(
            dataclasses.replace(settings, redis_url=url), store, load_catalog()
        )
        async with TestClient(TestServer(create_app(settings, runtime))) as client:
            await client.get("/chat")
            links = await image_of(client, runtime)
            server.stop()
            page = await client.get(
                f"/verify/{links['serial']}",
                headers={"Accept": "text/html", "Accept-Language": "en"},
            )
            assert page.status == 503 and page.content_type == "text/html"
            assert "unavailable for a moment" in await page.text()
            image = await client.get(links["image"], headers={"Accept": "image/*"})
            assert image.status == 503 and "error" in await image.json()
            chat = await client.post("/chat/api", json={"text": "/help"})
            assert chat.status == 503 and "稍后再试" in (await chat.json())["error"]
    finally:
        await store.close()
        server.stop()


async def send_photo(
    client: TestClient[Any, Any], data: bytes, note: str = "", **headers: str
) -> Any:
    form = FormData()
    form.add_field("photo", io.BytesIO(data), filename="IMG_0001.jpg", content_type="image/jpeg")
    form.add_field("note", note)
    return await client.post("/chat/photo", data=form, headers=headers)


async def test_a_photo_sent_from_the_web_chat_becomes_a_claim(
    client: TestClient[Any, Any], settings: Settings, runtime: Runtime
) -> None:
    await say(client, text="/pledge")
    await say(client, text="金匮")
    await say(client, choice="form:in_kind")
    await say(client, text="200")
    await say(client, text="张三")
    asked = await say(client, choice="confirm")
    assert "捐赠物品或收据的照片" in "".join(m["text"] for m in asked)
    not_image = await send_photo(client, b"GIF89a? no, a text file")
    assert "不像是一张照片" in (await not_image.json())["messages"][0]["text"]
    empty = await send_photo(client, b"")
    assert "不像是一张照片" in (await empty.json())["messages"][0]["text"]
    huge = await send_photo(client, b"\xff\xd8" + b"\x00" * (30 * 1024 * 1024))
    assert huge.status == 200 and "照片太大了" in (await huge.json())["messages"][0]["text"]
    assert await runtime.claims.waiting() == []
    sent = await send_photo(client, photo(), "三箱树苗")
    assert "已收到" in (await sent.json())["messages"][0]["text"]
    (claim,) = await runtime.claims.waiting()
    assert claim.note == "三箱树苗" and claim.user_key == f"web:{web_visitor(client, runtime)}"
    async with TestClient(TestServer(create_app(settings, runtime))) as nobody:
        refused = await send_photo(nobody, photo())  # no visitor cookie
        assert refused.status == 401
        broken = await nobody.post(
            "/chat/photo", data=b"x", headers={"Content-Type": "text/plain"}
        )
        assert broken.status in (400, 401)
    assert len(await runtime.claims.waiting()) == 1


async def test_a_base_s_short_map_link_leads_to_amap(client: TestClient[Any, Any]) -> None:
    response = await client.get("/map/jinkui", allow_redirects=False)
    target = response.headers["Location"]
    assert response.status == 302 and target.startswith("https://uri.amap.com/search?")
    assert "city=320200" in target and "120.321000" in target and "31.539500" in target
    assert (await client.get("/map/nowhere", allow_redirects=False)).status == 404


@pytest.mark.parametrize(
    "path",
    ["/chat", "/verify/WX2026-NOSUCH-000000", "/privacy", "/pay/nonsense", "/mydata/x.json"],
)
async def test_public_pages_cannot_be_framed_or_sniffed(
    client: TestClient[Any, Any], path: str
) -> None:
    """The chat's Delete and Confirm buttons cannot be clickjacked: no page may be framed,
    none runs inline script, none is sniffed into another type; found or not."""
    response = await client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


async def test_the_visitor_cookie_is_secure_behind_a_trusted_https_proxy_only(
    settings: Settings, runtime: Runtime
) -> None:
    """nginx ends TLS and says so in X-Forwarded-Proto: believed from TRUSTED_PROXIES with an
    https PUBLIC_BASE_URL, never from anyone else."""
    https = "https://trees.example.org"
    behind = dataclasses.replace(
        settings, public_base_url=https, trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),)
    )
    alone = dataclasses.replace(settings, public_base_url=https, trusted_proxies=())
    plain = dataclasses.replace(behind, public_base_url="http://127.0.0.1:8080")
    for config, secure in ((behind, True), (alone, False), (plain, False)):
        async with TestClient(TestServer(create_app(config, runtime))) as client:
            response = await client.get("/chat", headers={"X-Forwarded-Proto": "https"})
            assert bool(response.cookies["tp_visitor"]["secure"]) is secure, config
            client.session.cookie_jar.clear()  # a new visitor
            direct = await client.get("/chat")  # the proxy did not say https
            assert not direct.cookies["tp_visitor"]["secure"]
