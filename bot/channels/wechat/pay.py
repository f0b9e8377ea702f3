"""WeChat Pay API v3 through the wechatpayv3 library's async client: Native and JSAPI orders,
query, close, refund, and checking the notifications WeChat Pay sends.

The library signs our requests with the merchant key and checks the signature of every answer
with the WeChat Pay public key. Notifications are checked here in full: the signature over
`timestamp\\nnonce\\nbody\\n` (RSA-SHA256 with the public key; `Wechatpay-Serial` must name the
configured key), a timestamp within five minutes (the library does not check it), then the
resource decrypted with the API v3 key (AEAD_AES_256_GCM).
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from wechatpayv3.async_ import AsyncWeChatPay
from wechatpayv3.async_.type import WeChatPayType

from bot.config import Settings
from bot.errors import ConfigError
from bot.model import immutable
from bot.services.payments import Refunded, Report
from bot.store.payments import Order

log = logging.getLogger(__name__)

MAX_AGE_S = 300  # a notification older or newer than this is refused
TIMEOUT_S = (5.0, 10.0)
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOTIFY_PATH = "/pay/wechat/notify"
SIGNED_HEADERS = (
    "Wechatpay-Signature",
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Serial",
    "Wechatpay-Signature-Type",
)


class GatewayError(Exception):
    """WeChat Pay refused a request (the message says what it answered)."""


@immutable
class Notification:
    """A verified, decrypted notification."""

    event_type: str
    resource: dict[str, Any]


def read_key(setting: str, path: Path | None, public: bool) -> str:
    """A PEM key file's text, checked to parse; a bad one stops the start naming `setting`."""
    if path is None:
        raise ConfigError(f"{setting} is not set")
    try:
        text = path.read_text(encoding="utf-8")
        if public:
            load_pem_public_key(text.encode())
        else:
            load_pem_private_key(text.encode(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{setting} ({path}) is not a readable PEM key: {exc}") from exc
    return text


def _rfc3339(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, SHANGHAI).isoformat(timespec="seconds")


class WeChatPayGateway:
    """The merchant account's client (payments.Gateway)."""

    def __init__(self, settings: Settings) -> None:
        if not (settings.wechatpay_mchid and settings.wechatpay_appid):
            raise ConfigError("WECHATPAY_MCHID is not set")
        self.mchid = settings.wechatpay_mchid
        self.appid = settings.wechatpay_appid
        self.public_key_id = settings.wechatpay_public_key_id or ""
        private = read_key("WECHATPAY_PRIVATE_KEY", settings.wechatpay_private_key, False)
        public = read_key("WECHATPAY_PUBLIC_KEY", settings.wechatpay_public_key, True)
        self.client = AsyncWeChatPay(
            wechatpay_type=WeChatPayType.NATIVE,
            mchid=self.mchid,
            private_key=private,
            cert_serial_no=settings.wechatpay_cert_serial,
            appid=self.appid,
            apiv3_key=settings.wechatpay_api_v3_key,
            notify_url=f"{settings.public_base_url}{NOTIFY_PATH}",
            public_key=public,
            public_key_id=self.public_key_id,
            timeout=TIMEOUT_S,
            logger=log,
        )
        # the library hard-codes the gateway; WECHATPAY_API_BASE_URL moves it (the tests' fake)
        self.client._core._gate_way = settings.wechatpay_api_base_url

    async def __aenter__(self) -> WeChatPayGateway:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.__aexit__(None, None, None)

    @staticmethod
    def _answer(code: int, message: Any, doing: str) -> dict[str, Any]:
        if code not in range(200, 300):
            raise GatewayError(f"WeChat Pay refused to {doing}: {code} {message}")
        body: dict[str, Any] = json.loads(message) if message else {}
        return body

    async def native(self, order: Order) -> str:
        """Make a Native order; its code_url (a QR code to scan with WeChat)."""
        code, message = await self.client.pay(
            description=order.description,
            out_trade_no=order.out_trade_no,
            amount={"total": order.amount_fen, "currency": "CNY"},
            time_expire=_rfc3339(order.expires),
            pay_type=WeChatPayType.NATIVE,
        )
        return str(self._answer(code, message, "make an order")["code_url"])

    async def jsapi(self, order: Order, openid: str) -> dict[str, str]:
        """Make a JSAPI order for `openid`; the parameters WeixinJSBridge is called with."""
        code, message = await self.client.pay(
            description=order.description,
            out_trade_no=order.out_trade_no,
            amount={"total": order.amount_fen, "currency": "CNY"},
            payer={"openid": openid},
            time_expire=_rfc3339(order.expires),
            pay_type=WeChatPayType.JSAPI,
        )
        prepay_id = str(self._answer(code, message, "make an order")["prepay_id"])
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        package = f"prepay_id={prepay_id}"
        signature = self.client.sign([self.appid, timestamp, nonce, package])
        return {
            "appId": self.appid,
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": signature,
        }

    async def query(self, out_trade_no: str) -> Report | None:
        """What WeChat Pay says of an order."""
        code, message = await self.client.query(out_trade_no=out_trade_no)
        if code == 404:
            return None
        return report_of(self._answer(code, message, "say what became of an order"))

    async def close(self, out_trade_no: str) -> None:
        """Close an unpaid order."""
        code, message = await self.client.close(out_trade_no=out_trade_no)
        if code not in (204, 200, 400):  # 400 ORDERPAID / ORDERCLOSED: nothing to close
            raise GatewayError(f"WeChat Pay refused to close an order: {code} {message}")

    async def refund(self, order: Order, out_refund_no: str, reason: str) -> None:
        """Ask for the whole of a paid order back."""
        code, message = await self.client.refund(
            out_refund_no=out_refund_no,
            amount={"refund": order.amount_fen, "total": order.amount_fen, "currency": "CNY"},
            out_trade_no=order.out_trade_no,
            reason=reason[:80],
        )
        self._answer(code, message, "refund")

    def verify(self, headers: Any, body: bytes, now: float | None = None) -> Notification | None:
        """A notification, when it is signed by the configured WeChat Pay key, fresh, and
        decrypts; None otherwise."""
        serial = headers.get("Wechatpay-Serial", "")
        stamp = headers.get("Wechatpay-Timestamp", "")
        if not hmac.compare_digest(serial.encode(), self.public_key_id.encode()):
            return None
        if not stamp.isdigit() or abs((now or time.time()) - int(stamp)) > MAX_AGE_S:
            return None
        try:
            signed = {name: headers.get(name, "") for name in SIGNED_HEADERS}  # any case in
            data = self.client.callback(signed, body.decode("utf-8"))
        except Exception as exc:  # the library raises bare Exception for odd algorithms
            log.info("WeChat Pay notification refused: %s", exc)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("resource"), dict):
            return None
        return Notification(str(data.get("event_type", "")), data["resource"])


def report_of(resource: dict[str, Any]) -> Report:
    """A payment report from a notification's resource or a query's answer."""
    amount = resource.get("amount") or {}
    return Report(
        out_trade_no=str(resource.get("out_trade_no", "")),
        trade_state=str(resource.get("trade_state", "")),
        amount_fen=int(amount.get("payer_total", amount.get("total", 0)) or 0),
        mchid=str(resource.get("mchid", "")),
        appid=str(resource.get("appid", "")),
        transaction_id=str(resource.get("transaction_id", "")),
        success_time=str(resource.get("success_time", "")),
    )


def refund_of(resource: dict[str, Any]) -> Refunded:
    """A refund report from a notification's resource."""
    return Refunded(
        out_trade_no=str(resource.get("out_trade_no", "")),
        out_refund_no=str(resource.get("out_refund_no", "")),
        status=str(resource.get("refund_status", "")),
    )
