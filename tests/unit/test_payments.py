"""WeChat Pay through the real wechatpayv3 client against a fake API v3 on 127.0.0.1 that signs
as WeChat Pay does: pay page, Native and JSAPI orders, notifications, queries, expiry, refunds,
and every bad notification; link-out receipts imported from CSV files."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import html
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from bot.catalog import load_catalog
from bot.channels.platforms import open_gateway
from bot.channels.port import Port
from bot.channels.telegram.inbound import TELEGRAM
from bot.channels.wechat.inbound import WECHAT
from bot.cli import fulfilment as fulfilment_cli
from bot.config import Settings, demo_payments, load_settings
from bot.errors import CommandError, ConfigError
from bot.model import UserKey
from bot.runtime import Runtime, build_runtime
from bot.services import exports
from bot.services.payments import Flag
from bot.services.pledges import Pledge, PledgeStatus
from bot.services.stats import Period
from bot.store import Store
from bot.store.jobs import DUE_SETS, JobKind
from bot.store.payments import OrderStatus
from bot.web.app import create_app
from bot.web.verify import image_link
from bot.worker.outbox import Worker
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wechat import FakeWeChat
from tests.fakes.wechatpay import APPID, MCHID, FakeWeChatPay, _key
from tests.kit.chat import Chat
from tests.kit.console import account, csrf_of, log_in
from tests.kit.store import contents
from tests.kit.telegram import TelegramUser, telegram_settings
from tests.kit.wechat import WeChatUser, wechat_settings

NOTIFY = "/pay/wechat/notify"
WECHAT_BROWSER = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 MicroMessenger/8.0.50 NetType/WIFI"


@pytest.fixture
async def wechatpay() -> AsyncIterator[FakeWeChatPay]:
    async with FakeWeChatPay() as fake:
        yield fake


@pytest.fixture
def pay_settings(settings: Settings, wechatpay: FakeWeChatPay, tmp_path: Path) -> Settings:
    bound = dataclasses.replace(settings, wechat_app_id=APPID)  # the Official Account's app
    return wechatpay.configure(bound, tmp_path)


@pytest.fixture
async def pay_runtime(pay_settings: Settings, store: Store) -> Runtime:
    return await build_runtime(pay_settings, store, load_catalog())


@pytest.fixture
async def client(
    pay_settings: Settings, pay_runtime: Runtime
) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(pay_settings, pay_runtime))) as client:
        yield client


@pytest.fixture
def donor(pay_runtime: Runtime) -> Chat:
    return Chat(pay_runtime.engine, user_id="donor", display_name="张三")


async def pledge_100(chat: Chat) -> str:
    """Pledge a donation of 100 yuan; the pay page's path from the reply."""
    await chat.pledge("jinkui", "donation", "100", "张三丰")
    link = next(w for w in chat.text.split() if "/pay/" in w)
    return urlsplit(link).path


async def only_pledge(runtime: Runtime, user: str = "test:donor") -> Pledge:
    (pledge,) = await runtime.pledges.of_user(UserKey(user))
    return pledge


async def open_page(client: TestClient[Any, Any], path: str, agent: str = "Chrome") -> str:
    response = await client.get(path, headers={"User-Agent": agent, "Accept-Language": "zh-CN"})
    assert response.status == 200
    return await response.text()


async def notify(client: TestClient[Any, Any], message: tuple[dict[str, str], bytes]) -> int:
    headers, body = message
    response = await client.post(NOTIFY, data=body, headers=headers)
    return response.status


async def paid_order(
    client: TestClient[Any, Any], runtime: Runtime, wechatpay: FakeWeChatPay, chat: Chat
) -> str:
    """Pledge, open the pay page, pay, and be notified; the out_trade_no."""
    await open_page(client, await pledge_100(chat))
    (no,) = wechatpay.orders
    assert await notify(client, wechatpay.notification(wechatpay.pay(no))) == 204
    return no


def fulfilled_events(pledge: Pledge) -> list[str]:
    return [e.what for e in pledge.history if e.what == "fulfilled"]


# -- the order and the pay page --------------------------------------------------------------


async def test_the_pay_page_makes_a_native_order_and_turns_paid(
    client: TestClient[Any, Any], pay_runtime: Runtime, wechatpay: FakeWeChatPay, donor: Chat
) -> None:
    path = await pledge_100(donor)
    assert "100 元" in donor.text and "微信支付" in donor.text
    pledge = await only_pledge(pay_runtime)
    assert pledge.status == PledgeStatus.PLEDGED and pledge.serial is None
    page = await open_page(client, path)
    assert "¥ 100.00" in page and "无锡经开区金匮公园" in page and 'class="qr"' in page
    (order,) = wechatpay.orders.values()
    assert order.kind == "native" and order.total == 10_000 and "金匮公园" in order.description
    assert order.time_expire.endswith("+08:00")
    _, _, body = wechatpay.requests[0]
    assert body["notify_url"] == "https://trees.example.org/pay/wechat/notify"
    assert body["mchid"] == MCHID and body["appid"] == APPID and not wechatpay.refused
    await open_page(client, path)  # opened again: the same order, not a second one
    assert len([r for r in wechatpay.requests if r[1].endswith("/native")]) == 1
    status = await client.get(f"{path}/status")
    assert (await status.json()) == {"status": "open"}
    assert await notify(client, wechatpay.notification(wechatpay.pay(order.out_trade_no))) == 204
    assert (await (await client.get(f"{path}/status")).json()) == {"status": "paid"}
    assert "已支付" in await open_page(client, path)
    pledge = await only_pledge(pay_runtime)
    assert pledge.status == PledgeStatus.FULFILLED and pledge.serial
    assert fulfilled_events(pledge) == ["fulfilled"]
    assert pledge.history[-1].by.startswith("payment:4200")


async def test_inside_wechat_the_page_pays_by_jsapi_signed_for_the_bridge(
    client: TestClient[Any, Any],
    pay_runtime: Runtime,
    wechatpay: FakeWeChatPay,
    pay_settings: Settings,
) -> None:
    follower = Chat(pay_runtime.engine, user_id="oFOLLOWER", channel="wechat")
    path = await pledge_100(follower)
    page = await open_page(client, path, WECHAT_BROWSER)
    assert 'id="wxpay"' in page and 'class="qr"' not in page
    (order,) = wechatpay.orders.values()
    assert order.kind == "jsapi" and order.payer == "oFOLLOWER"
    params = page.split('data-jsapi="', 1)[1].split('"', 1)[0]
    bridge = json.loads(html.unescape(params))
    message = (
        f"{bridge['appId']}\n{bridge['timeStamp']}\n{bridge['nonceStr']}\n{bridge['package']}\n"
    )
    wechatpay.merchant.public_key().verify(  # the merchant key signed it, as WeChat checks
        base64.b64decode(bridge["paySign"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    assert bridge["package"] == f"prepay_id=wx{order.out_trade_no}"
    assert await notify(client, wechatpay.notification(wechatpay.pay(order.out_trade_no))) == 204
    assert (await only_pledge(pay_runtime, "wechat:oFOLLOWER")).status == PledgeStatus.FULFILLED


async def test_a_bad_or_expired_pay_link_is_404(
    client: TestClient[Any, Any], donor: Chat, pay_runtime: Runtime
) -> None:
    path = await pledge_100(donor)
    before = await contents(pay_runtime.store)
    assert (await client.get(path[:-3] + "xyz")).status == 404
    assert (await client.get("/pay/nonsense")).status == 404
    assert await contents(pay_runtime.store) == before  # no order made


# -- notifications -----------------------------------------------------------------------


async def test_a_notification_five_times_and_twice_at_once_fulfils_once(
    client: TestClient[Any, Any], pay_runtime: Runtime, wechatpay: FakeWeChatPay, donor: Chat
) -> None:
    await open_page(client, await pledge_100(donor))
    (no,) = wechatpay.orders
    resource = wechatpay.pay(no)
    together = await asyncio.gather(
        *(notify(client, wechatpay.notification(resource)) for _ in range(2))
    )
    again = [await notify(client, wechatpay.notification(resource)) for _ in range(5)]
    assert together == [204, 204] and again == [204] * 5
    pledge = await only_pledge(pay_runtime)
    assert fulfilled_events(pledge) == ["fulfilled"] and pledge.status == PledgeStatus.FULFILLED
    entries = await pay_runtime.store.redis.xlen(pay_runtime.store.keys.jobs("outbox"))
    assert entries == 1  # one "your certificate" notice


async def test_header_names_in_any_case_are_read(
    client: TestClient[Any, Any], pay_runtime: Runtime, wechatpay: FakeWeChatPay, donor: Chat
) -> None:
    await open_page(client, await pledge_100(donor))
    (no,) = wechatpay.orders
    headers, body = wechatpay.notification(wechatpay.pay(no))
    shouted = {name.upper(): value for name, value in headers.items()}  # HTTP names any case
    assert (await client.post(NOTIFY, data=body, headers=shouted)).status == 204
    assert (await only_pledge(pay_runtime)).status == PledgeStatus.FULFILLED


async def test_forged_stale_undecryptable_and_mismatched_notifications_change_nothing(
    client: TestClient[Any, Any], pay_runtime: Runtime, wechatpay: FakeWeChatPay, donor: Chat
) -> None:
    await open_page(client, await pledge_100(donor))
    (no,) = wechatpay.orders
    resource = wechatpay.pay(no)
    stranger = _key("stranger")
    refused = [
        await notify(client, wechatpay.notification(resource, signer=stranger)),
        await notify(client, wechatpay.notification(resource, timestamp=int(time.time()) - 600)),
        await notify(client, wechatpay.notification(resource, timestamp=int(time.time()) + 600)),
        await notify(client, wechatpay.notification(resource, serial="PUB_KEY_ID_OTHER")),
        await notify(client, wechatpay.notification(resource, api_v3_key="x" * 32)),
    ]
    assert refused == [401] * 5
    headers, body = wechatpay.notification(resource)
    tampered = body.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.SUCCESS" ')
    assert (await client.post(NOTIFY, data=tampered, headers=headers)).status == 401
    assert (await client.post(NOTIFY, data=b"{", headers=headers)).status == 401
    assert (await client.post(NOTIFY, data=b"x" * 100_000, headers=headers)).status == 413
    short = dict(resource, amount={"total": 1, "payer_total": 1, "currency": "CNY"})
    assert await notify(client, wechatpay.notification(short)) == 400
    unknown = dict(resource, out_trade_no="TPNOSUCHORDER1")
    assert await notify(client, wechatpay.notification(unknown)) == 400
    other = dict(resource, mchid="1900000999")
    assert await notify(client, wechatpay.notification(other)) == 400
    pledge = await only_pledge(pay_runtime)
    assert pledge.status == PledgeStatus.PLEDGED and pledge.serial is None
    flagged = await pay_runtime.payments.store.flagged()
    assert {f.split("\n")[0] for f in flagged} == {
        Flag.AMOUNT,
        Flag.UNKNOWN_ORDER,
        Flag.MERCHANT,
    }
    assert await notify(client, wechatpay.notification(resource)) == 204  # the real one
    assert (await only_pledge(pay_runtime)).status == PledgeStatus.FULFILLED


async def test_a_payment_for_a_cancelled_pledge_is_kept_and_flagged(
    client: TestClient[Any, Any], pay_runtime: Runtime, wechatpay: FakeWeChatPay, donor: Chat
) -> None:
    await open_page(client, await pledge_100(donor))
    (no,) = wechatpay.orders
    pledge = await only_pledge(pay_runtime)
    await donor.say("/mine")
    await donor.tap(f"act:cancel_pledge:{pledge.id}")
    await donor.tap(donor.choices[0])
    assert (await only_pledge(pay_runtime)).status == PledgeStatus.CANCELLED
    assert wechatpay.orders[no].state == "CLOSED"  # its order was closed at WeChat Pay too
    wechatpay.orders[no].state = "NOTPAY"  # paid at the very moment it closed
    assert await notify(client, wechatpay.notification(wechatpay.pay(no))) == 204
    after = await only_pledge(pay_runtime)
    assert after.status == PledgeStatus.CANCELLED and after.flagged == Flag.NOT_WAITING
    order, _ = await pay_runtime.payments.store.order(no) or (None, "")
    assert order is not None and order.status == OrderStatus.PAID  # the money is on record
    said = await fulfilment_cli.flagged(pay_runtime)
    assert any(f.startswith("paid for a pledge no longer waiting") for f in said)
    assert any(f.endswith("(cancelled)") for f in said)


# -- the worker: queries, expiry ----------------------------------------------------------


async def test_an_order_paid_but_never_notified_is_found_by_the_worker_query(
    client: TestClient[Any, Any], pay_runtime: Runtime, wechatpay: FakeWeChatPay, donor: Chat
) -> None:
    await open_page(client, await pledge_100(donor))
    (no,) = wechatpay.orders
    wechatpay.pay(no)  # the notification is lost
    await pay_runtime.payments.check(no, int(time.time()) + 301)
    assert (await only_pledge(pay_runtime)).status == PledgeStatus.FULFILLED
    assert any(r[1].endswith(f"/out-trade-no/{no}") for r in wechatpay.requests)


async def test_unpaid_orders_are_asked_about_at_growing_gaps(
    client: TestClient[Any, Any], pay_runtime: Runtime, wechatpay: FakeWeChatPay, donor: Chat
) -> None:
    path = await pledge_100(donor)
    (pledge,) = await pay_runtime.pledges.of_user(UserKey("test:donor"))
    due = pay_runtime.store.keys.jobs(DUE_SETS[JobKind.ORDER])

    async def next_check() -> float | None:
        return await pay_runtime.store.redis.zscore(due, pledge.order)

    order, _ = await pay_runtime.payments.store.order(pledge.order) or (None, "")
    assert order is not None
    assert await next_check() == order.created + 300  # 5 minutes after it was made
    await pay_runtime.payments.check(pledge.order, order.created + 300)
    assert await next_check() == order.expires  # never opened: nothing to ask until expiry
    await open_page(client, path)  # now it exists at WeChat Pay
    await pay_runtime.payments.check(pledge.order, order.created + 2000)
    assert await next_check() == order.created + 4000  # as long again as it has been open
    await pay_runtime.payments.check(pledge.order, order.created + 90_000)
    assert await next_check() == order.created + 90_000 + 3600  # at most an hour apart
    assert wechatpay.orders[pledge.order].state == "NOTPAY"


async def test_an_unpaid_pledge_expires_its_order_is_closed_and_a_late_payment_still_counts(
    client: TestClient[Any, Any], pay_runtime: Runtime, wechatpay: FakeWeChatPay, donor: Chat
) -> None:
    await open_page(client, await pledge_100(donor))
    (no,) = wechatpay.orders
    pledge = await only_pledge(pay_runtime)
    overdue = int(time.time()) - 1  # as if the catalogue's 7 days had passed
    await pay_runtime.pledges.note(pledge.user_key, pledge.id, pledge.history[0], due=overdue)
    await pay_runtime.store.jobs.schedule(
        JobKind.EXPIRE, f"{pledge.user_key}\n{pledge.id}", overdue
    )
    await Worker(pay_runtime, Port({}, pay_runtime.store.users)).run_once()
    expired = await only_pledge(pay_runtime)
    assert expired.status == PledgeStatus.EXPIRED
    assert wechatpay.orders[no].state == "CLOSED"
    wechatpay.orders[no].state = "NOTPAY"
    assert await notify(client, wechatpay.notification(wechatpay.pay(no))) == 204
    late = await only_pledge(pay_runtime)
    assert late.status == PledgeStatus.FULFILLED and late.flagged == Flag.LATE


# -- refunds ------------------------------------------------------------------------------


async def test_a_refund_revokes_the_certificate_on_verify(
    client: TestClient[Any, Any], pay_runtime: Runtime, wechatpay: FakeWeChatPay, donor: Chat
) -> None:
    no = await paid_order(client, pay_runtime, wechatpay, donor)
    pledge = await only_pledge(pay_runtime)
    assert (
        "有效的全民义务植树尽责电子证书"
        in await (await client.get(f"/verify/{pledge.serial}")).text()
    )
    image = image_link(pay_runtime.pledges.secret, pledge.serial or "")
    assert (await client.get(image)).status == 200
    said = await fulfilment_cli.refund(pay_runtime, pledge.id, "捐赠人申请退款")
    assert f"RF{no}" in said
    (refund_no,) = wechatpay.refunds
    assert wechatpay.refunds[refund_no]["reason"] == "捐赠人申请退款"
    assert (await only_pledge(pay_runtime)).status == PledgeStatus.FULFILLED  # until confirmed
    message = wechatpay.notification(wechatpay.refund_success(refund_no), "REFUND.SUCCESS")
    assert await notify(client, message) == 204
    assert await notify(client, message) == 204  # retried: nothing more
    revoked = await only_pledge(pay_runtime)
    assert revoked.status == PledgeStatus.REVOKED
    assert [e.what for e in revoked.history].count("revoked") == 1
    page = await (await client.get(f"/verify/{pledge.serial}")).text()
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
    assert "已于" in page and today in page and "有效的全民义务" not in page
    assert (await client.get(image)).status == 404  # a revoked certificate's image is gone


async def test_refusing_refunds_that_cannot_be(
    client: TestClient[Any, Any], pay_runtime: Runtime, wechatpay: FakeWeChatPay, donor: Chat
) -> None:
    await pledge_100(donor)
    pledge = await only_pledge(pay_runtime)
    with pytest.raises(CommandError, match="was not paid"):
        await fulfilment_cli.refund(pay_runtime, pledge.id, "试试")
    with pytest.raises(CommandError, match="no pledge"):
        await fulfilment_cli.refund(pay_runtime, "NOSUCH", "试试")
    with pytest.raises(CommandError, match="reason"):
        await fulfilment_cli.refund(pay_runtime, pledge.id, " ")
    assert wechatpay.refunds == {}


async def test_a_gateway_answer_not_signed_by_wechat_pay_is_not_believed(
    client: TestClient[Any, Any], wechatpay: FakeWeChatPay, donor: Chat
) -> None:
    path = await pledge_100(donor)
    wechatpay.answer_badly = True
    response = await client.get(path, headers={"Accept-Language": "zh-CN"})
    assert response.status == 503
    page = await response.text()
    assert "暂时无法连接微信支付" in page and 'class="qr"' not in page
    wechatpay.answer_badly = False
    assert 'class="qr"' in await open_page(client, path)  # later, it works


def test_settings_name_what_is_missing_or_malformed() -> None:
    with pytest.raises(ConfigError, match="WECHATPAY_API_V3_KEY"):
        load_settings({"WECHATPAY_MCHID": "1900000109", "WECHAT_APP_ID": "wx1"})
    env = {
        "WECHATPAY_MCHID": "1900000109",
        "WECHATPAY_APPID": "wx1",
        "WECHATPAY_API_V3_KEY": "short",
        "WECHATPAY_PRIVATE_KEY": "/nonexistent",
        "WECHATPAY_CERT_SERIAL": "ABC",
        "WECHATPAY_PUBLIC_KEY": "/nonexistent",
        "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_1",
    }
    with pytest.raises(ConfigError, match="32 characters"):
        load_settings(env)


async def test_a_key_file_that_is_not_a_pem_key_stops_the_start(
    pay_settings: Settings, pay_runtime: Runtime, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    broken = dataclasses.replace(pay_settings, wechatpay_private_key=junk)
    with pytest.raises(ConfigError, match="WECHATPAY_PRIVATE_KEY"):
        async with open_gateway(pay_runtime, broken):
            pass
    broken = dataclasses.replace(pay_settings, wechatpay_public_key=tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="WECHATPAY_PUBLIC_KEY"):
        async with open_gateway(pay_runtime, broken):
            pass


# -- pay, notified, certificate: on each channel -------------------------------------------


async def test_on_telegram_pay_then_the_certificate_photo_arrives(
    pay_settings: Settings, pay_runtime: Runtime, wechatpay: FakeWeChatPay
) -> None:
    async with FakeTelegram() as telegram:
        settings = telegram_settings(pay_settings, telegram, polling=False)
        async with TestClient(TestServer(create_app(settings, pay_runtime))) as client:
            user = TelegramUser(client, telegram, user_id=6001)
            await user.say("/start")
            await user.tap("menu:pledge")
            await user.tap("base:jinkui")
            await user.tap("form:donation")
            await user.say("100")
            await user.say("张三丰")
            await user.tap("confirm")
            link = next(w for w in user.text.split() if "/pay/" in w)
            assert "微信支付" in user.text and telegram.certificates() == []
            page = await open_page(client, urlsplit(link).path)
            assert 'class="qr"' in page  # Telegram users scan the Native QR code with WeChat
            (no,) = wechatpay.orders
            assert await notify(client, wechatpay.notification(wechatpay.pay(no))) == 204
            outlet = client.app[TELEGRAM].outlet
            await Worker(
                pay_runtime, Port({"telegram": outlet}, pay_runtime.store.users)
            ).run_once()
            (photo,) = telegram.certificates()
            assert "WX20" in photo.params["caption"] and int(photo.params["chat_id"]) == 6001


async def test_on_wechat_pay_inside_wechat_then_the_certificate_arrives_by_service(
    pay_settings: Settings, pay_runtime: Runtime, wechatpay: FakeWeChatPay, store: Store
) -> None:
    async with FakeWeChat() as wechat:
        settings = wechat_settings(pay_settings, store, wechat, safe=False)
        async with TestClient(TestServer(create_app(settings, pay_runtime))) as client:
            user = WeChatUser(client, wechat, openid="oPAYER")
            for text in ("/pledge", "金匮", "捐资", "100", "张三丰", "1"):
                await user.say(text)
            link = next(w for w in user.last.text.split() if "/pay/" in w)
            await client.app[WECHAT].drain()
            wechat.forget()  # the base's picture went by service when it was chosen
            page = await open_page(client, urlsplit(link).path, WECHAT_BROWSER)
            assert 'id="wxpay"' in page
            (order,) = wechatpay.orders.values()
            assert order.kind == "jsapi" and order.payer == "oPAYER"
            resource = wechatpay.pay(order.out_trade_no)
            assert await notify(client, wechatpay.notification(resource)) == 204
            outlet = client.app[WECHAT].outlet
            await Worker(pay_runtime, Port({"wechat": outlet}, pay_runtime.store.users)).run_once()
            text, image = wechat.sent_to("oPAYER")
            assert "WX20" in text["text"]["content"] and image["msgtype"] == "image"


# -- the demo pay page (a newcomer's machine) ---------------------------------------------


@pytest.fixture
def newcomer(settings: Settings) -> Settings:
    """A machine with nothing configured, served on loopback: the README's first command."""
    return dataclasses.replace(settings, public_base_url="http://127.0.0.1:8080")


async def test_a_newcomer_takes_a_donation_to_its_certificate_on_the_demo_page(
    newcomer: Settings, store: Store
) -> None:
    runtime = await build_runtime(newcomer, store, load_catalog())
    assert runtime.payments.mode == "demo"
    web = Chat(runtime.engine, user_id="newcomer")
    await web.pledge("jinkui", "donation", "60", "张三丰")
    assert "演示" in web.text and "/pay/" in web.text
    path = urlsplit(next(w for w in web.text.split() if "/pay/" in w)).path
    async with TestClient(TestServer(create_app(newcomer, runtime))) as client:
        page = await open_page(client, path)
        assert "演示 · DEMO" in page and f'action="{path}/demo"' in page
        paid = await client.post(f"{path}/demo", allow_redirects=False)
        assert paid.status == 303 and paid.headers["Location"] == path
        assert "✅" in await open_page(client, path)
        again = await client.post(f"{path}/demo", allow_redirects=False)
        assert again.status == 303
    (pledge,) = await runtime.pledges.of_user(UserKey("test:newcomer"))
    assert pledge.status == PledgeStatus.FULFILLED and pledge.serial
    assert fulfilled_events(pledge) == ["fulfilled"] and pledge.history[-1].by == "payment:demo"
    found = await runtime.payments.store.order(pledge.order)
    assert found is not None and found[0].kind == "demo" and found[0].transaction_id == "demo"
    export = exports.Export(exports.Kind.PAYMENTS, Period())
    rows = [row async for row in exports.rows(runtime, export)]
    assert rows[1][0] == pledge.order and rows[1][-1] == "demo"  # the export says so too


@pytest.mark.parametrize(
    "change",
    [
        {"public_base_url": "https://trees.example.org"},
        {"public_base_url": "http://192.168.1.20:8080"},
        {"telegram_bot_token": "1:abc"},
        {"wechat_token": "t"},
        {"wechat_app_id": "wx1"},
        {"donation_url": "https://donate.example.org"},
    ],
)
def test_the_demo_is_off_the_moment_anything_real_is_set(
    newcomer: Settings, change: dict[str, str]
) -> None:
    assert demo_payments(newcomer)
    assert not demo_payments(dataclasses.replace(newcomer, **change))  # type: ignore[arg-type]


async def test_the_demo_button_is_404_where_money_is_real(
    client: TestClient[Any, Any], pay_runtime: Runtime, donor: Chat
) -> None:
    path = await pledge_100(donor)
    assert "演示" not in await open_page(client, path)
    before = await contents(pay_runtime.store)
    assert (await client.post(f"{path}/demo")).status == 404
    assert await contents(pay_runtime.store) == before
    assert (await only_pledge(pay_runtime)).status == PledgeStatus.PLEDGED


async def test_a_refund_from_the_console_asks_once_naming_what_follows(
    pay_settings: Settings,
    pay_runtime: Runtime,
    wechatpay: FakeWeChatPay,
    client: TestClient[Any, Any],
    donor: Chat,
) -> None:
    await paid_order(client, pay_runtime, wechatpay, donor)
    pledge = await only_pledge(pay_runtime)
    await account(pay_runtime, "treasurer", "city")
    plain = dataclasses.replace(pay_settings, public_base_url="http://127.0.0.1:8080")
    async with TestClient(TestServer(create_app(plain, pay_runtime))) as console:
        await log_in(console, "treasurer")
        form = {"csrf": await csrf_of(console), "pledge": pledge.id, "reason": "捐赠人申请退款"}
        asked = await console.post("/admin/payments/refund", data=form)
        assert "微信支付确认后该证书将被撤销" in await asked.text()
        assert wechatpay.refunds == {}  # asked, nothing done yet
        done = await console.post("/admin/payments/refund", data=form | {"confirm": "yes"})
        assert done.status == 200 and len(wechatpay.refunds) == 1
