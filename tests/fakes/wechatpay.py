"""A fake WeChat Pay API v3 on 127.0.0.1, written from WeChat Pay's documented algorithms with
`cryptography` (not with the wechatpayv3 library the bot uses).

It checks the merchant's `Authorization` signature on every request (RSA-SHA256 over
`METHOD\\nPATH\\ntimestamp\\nnonce\\nbody\\n`), signs every answer with its own key (the
"WeChat Pay public key" the bot is configured with), and builds notifications as WeChat Pay
sends them: the resource encrypted with AEAD_AES_256_GCM under the API v3 key, the body signed
over `timestamp\\nnonce\\nbody\\n`. Orders: JSAPI and Native, query, close, refund.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.config import Settings
from tests.fakes.wechat import APP_ID

MCHID = "1900000109"
APPID = APP_ID  # the Official Account of the fake WeChat: the merchant is bound to it
API_V3_KEY = "0123456789abcdefghijklmnopqrstuv"
CERT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
PUBLIC_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
_AUTH = re.compile(r'(\w+)="([^"]*)"')


@functools.cache
def _key(name: str) -> rsa.RSAPrivateKey:
    """A test RSA-2048 key, made once per run (`name` tells them apart)."""
    del name
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_private(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_public(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign(key: rsa.RSAPrivateKey, message: str) -> str:
    """SHA256-with-RSA (PKCS#1 v1.5), base64, as WeChat Pay signs."""
    signature = key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def encrypt(
    plain: dict[str, Any], key: str = API_V3_KEY, aad: str = "transaction"
) -> dict[str, str]:
    """A notification's resource: AEAD_AES_256_GCM under the API v3 key."""
    nonce = secrets.token_hex(6)  # 12 characters, used as bytes
    data = json.dumps(plain, ensure_ascii=False).encode()
    sealed = AESGCM(key.encode()).encrypt(nonce.encode(), data, aad.encode())
    return {
        "original_type": aad,
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(sealed).decode(),
        "associated_data": aad,
        "nonce": nonce,
    }


@dataclasses.dataclass
class PayOrder:
    """An order as the fake knows it."""

    out_trade_no: str
    kind: str
    total: int
    description: str
    time_expire: str
    payer: str = ""
    state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: str = ""


class FakeWeChatPay:
    """The fake gateway; `async with` it."""

    def __init__(self) -> None:
        self.platform = _key("platform")  # WeChat Pay's signing key
        self.merchant = _key("merchant")  # the merchant's API key
        self.orders: dict[str, PayOrder] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.refused: list[str] = []
        self.answer_badly = False  # sign answers with a wrong key
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- set-up ------------------------------------------------------------------------------

    def configure(self, settings: Settings, directory: Path) -> Settings:
        """`settings` with this merchant account, its key files written to `directory`."""
        private = directory / "apiclient_key.pem"
        public = directory / "pub_key.pem"
        private.write_bytes(_pem_private(self.merchant))
        public.write_bytes(_pem_public(self.platform))
        return dataclasses.replace(
            settings,
            wechatpay_mchid=MCHID,
            wechatpay_appid=APPID,
            wechatpay_api_v3_key=API_V3_KEY,
            wechatpay_private_key=private,
            wechatpay_cert_serial=CERT_SERIAL,
            wechatpay_public_key=public,
            wechatpay_public_key_id=PUBLIC_KEY_ID,
            wechatpay_api_base_url=self.url,
        )

    async def __aenter__(self) -> FakeWeChatPay:
        app = web.Application()
        app.router.add_post("/v3/pay/transactions/native", self._native)
        app.router.add_post("/v3/pay/transactions/jsapi", self._jsapi)
        app.router.add_get("/v3/pay/transactions/out-trade-no/{no}", self._query)
        app.router.add_post("/v3/pay/transactions/out-trade-no/{no}/close", self._close)
        app.router.add_post("/v3/refund/domestic/refunds", self._refund)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what the tests do -------------------------------------------------------------------

    def pay(self, out_trade_no: str, total: int | None = None) -> dict[str, Any]:
        """The citizen pays an order; the transaction resource WeChat Pay would notify."""
        order = self.orders[out_trade_no]
        order.state = "SUCCESS"
        order.transaction_id = f"4200{secrets.randbelow(10**24):024d}"
        order.success_time = time.strftime("%Y-%m-%dT%H:%M:%S+08:00")
        resource = self._transaction(order)
        if total is not None:
            resource["amount"] = {"total": total, "payer_total": total, "currency": "CNY"}
        return resource

    def refund_success(self, out_refund_no: str) -> dict[str, Any]:
        """A refund went through; the refund resource WeChat Pay would notify."""
        refund = self.refunds[out_refund_no]
        refund["refund_status"] = "SUCCESS"
        return {
            "mchid": MCHID,
            "out_trade_no": refund["out_trade_no"],
            "transaction_id": refund["transaction_id"],
            "out_refund_no": out_refund_no,
            "refund_id": refund["refund_id"],
            "refund_status": "SUCCESS",
            "success_time": time.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
            "amount": refund["amount"],
        }

    def notification(
        self,
        resource: dict[str, Any],
        event_type: str = "TRANSACTION.SUCCESS",
        *,
        timestamp: int | None = None,
        serial: str = PUBLIC_KEY_ID,
        signer: rsa.RSAPrivateKey | None = None,
        api_v3_key: str = API_V3_KEY,
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body of a notification as WeChat Pay posts it."""
        aad = "refund" if event_type.startswith("REFUND.") else "transaction"
        body = json.dumps(
            {
                "id": secrets.token_hex(16),
                "create_time": time.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": "支付成功" if aad == "transaction" else "退款成功",
                "resource": encrypt(resource, api_v3_key, aad),
            },
            ensure_ascii=False,
        ).encode()
        return self._signed_headers(body, timestamp, serial, signer), body

    # -- the API -----------------------------------------------------------------------------

    def _signed_headers(
        self,
        body: bytes,
        timestamp: int | None = None,
        serial: str = PUBLIC_KEY_ID,
        signer: rsa.RSAPrivateKey | None = None,
    ) -> dict[str, str]:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        nonce = secrets.token_hex(16)
        key = signer or (_key("stranger") if self.answer_badly else self.platform)
        return {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": sign(key, f"{stamp}\n{nonce}\n{body.decode()}\n"),
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            "Request-ID": secrets.token_hex(8),
            "Content-Type": "application/json",
        }

    def _answer(self, status: int, data: dict[str, Any] | None = None) -> web.Response:
        body = json.dumps(data, ensure_ascii=False).encode() if data is not None else b""
        headers = self._signed_headers(body)
        if data is None:
            del headers["Content-Type"]
        return web.Response(status=status, body=body, headers=headers)

    def _error(self, status: int, code: str, message: str) -> web.Response:
        return self._answer(status, {"code": code, "message": message})

    async def _authorised(self, request: web.Request) -> tuple[bool, dict[str, Any]]:
        """Whether the merchant signed the request; its JSON body."""
        text = await request.text()
        scheme, _, rest = request.headers.get("Authorization", "").partition(" ")
        fields = dict(_AUTH.findall(rest))
        message = (
            f"{request.method}\n{request.path_qs}\n{fields.get('timestamp', '')}\n"
            f"{fields.get('nonce_str', '')}\n{text}\n"
        )
        ok = scheme == "WECHATPAY2-SHA256-RSA2048" and fields.get("mchid") == MCHID
        ok = ok and fields.get("serial_no") == CERT_SERIAL
        ok = ok and abs(time.time() - int(fields.get("timestamp") or 0)) < 300
        try:
            signature = base64.b64decode(fields.get("signature", ""))
            self.merchant.public_key().verify(
                signature, message.encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, ValueError):
            ok = False
        body: dict[str, Any] = json.loads(text) if text else {}
        self.requests.append((request.method, request.path, body))
        if not ok:
            self.refused.append(request.path)
        return ok, body

    async def _native(self, request: web.Request) -> web.Response:
        return await self._order(request, "native")

    async def _jsapi(self, request: web.Request) -> web.Response:
        return await self._order(request, "jsapi")

    async def _order(self, request: web.Request, kind: str) -> web.Response:
        ok, body = await self._authorised(request)
        if not ok:
            return self._error(401, "SIGN_ERROR", "签名错误")
        if body.get("appid") != APPID or body.get("mchid") != MCHID:
            return self._error(400, "PARAM_ERROR", "appid和mch_id不匹配")
        no = str(body.get("out_trade_no", ""))
        if not body.get("notify_url", "").startswith("http"):
            return self._error(400, "PARAM_ERROR", "notify_url格式不正确")
        if kind == "jsapi" and not (body.get("payer") or {}).get("openid"):
            return self._error(400, "PARAM_ERROR", "缺少参数payer.openid")
        existing = self.orders.get(no)
        if existing is not None and (existing.kind != kind or existing.state != "NOTPAY"):
            return self._error(400, "OUT_TRADE_NO_USED", "商户订单号重复")
        total = int(body["amount"]["total"])
        order = existing or PayOrder(
            no,
            kind,
            total,
            str(body.get("description", "")),
            str(body.get("time_expire", "")),
            (body.get("payer") or {}).get("openid", ""),
        )
        self.orders[no] = order
        if kind == "native":
            return self._answer(200, {"code_url": f"weixin://wxpay/bizpayurl?pr={no}"})
        return self._answer(200, {"prepay_id": f"wx{no}"})

    def _transaction(self, order: PayOrder) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "appid": APPID,
            "mchid": MCHID,
            "out_trade_no": order.out_trade_no,
            "trade_type": order.kind.upper(),
            "trade_state": order.state,
            "trade_state_desc": order.state,
            "amount": {"total": order.total, "currency": "CNY"},
        }
        if order.state == "SUCCESS":
            resource |= {
                "transaction_id": order.transaction_id,
                "success_time": order.success_time,
                "payer": {"openid": order.payer or "o-scanner"},
                "amount": {"total": order.total, "payer_total": order.total, "currency": "CNY"},
            }
        return resource

    async def _query(self, request: web.Request) -> web.Response:
        ok, _ = await self._authorised(request)
        if not ok:
            return self._error(401, "SIGN_ERROR", "签名错误")
        order = self.orders.get(request.match_info["no"])
        if order is None:
            return self._error(404, "ORDER_NOT_EXIST", "订单不存在")
        return self._answer(200, self._transaction(order))

    async def _close(self, request: web.Request) -> web.Response:
        ok, _ = await self._authorised(request)
        if not ok:
            return self._error(401, "SIGN_ERROR", "签名错误")
        order = self.orders.get(request.match_info["no"])
        if order is None:
            return self._error(404, "ORDER_NOT_EXIST", "订单不存在")
        if order.state == "SUCCESS":
            return self._error(400, "ORDERPAID", "订单已支付")
        order.state = "CLOSED"
        return self._answer(204)

    async def _refund(self, request: web.Request) -> web.Response:
        ok, body = await self._authorised(request)
        if not ok:
            return self._error(401, "SIGN_ERROR", "签名错误")
        order = self.orders.get(str(body.get("out_trade_no", "")))
        if order is None or order.state not in ("SUCCESS", "REFUND"):
            return self._error(400, "RESOURCE_NOT_EXISTS", "订单不存在")
        amount = body.get("amount") or {}
        if (
            int(amount.get("refund", 0)) > order.total
            or int(amount.get("total", 0)) != order.total
        ):
            return self._error(400, "PARAM_ERROR", "退款金额不正确")
        no = str(body["out_refund_no"])
        refund = self.refunds.setdefault(
            no,
            {
                "out_trade_no": order.out_trade_no,
                "transaction_id": order.transaction_id,
                "refund_id": f"5030{secrets.randbelow(10**24):024d}",
                "reason": body.get("reason", ""),
                "refund_status": "PROCESSING",
                "amount": {
                    "total": order.total,
                    "refund": int(amount["refund"]),
                    "payer_total": order.total,
                    "payer_refund": int(amount["refund"]),
                },
            },
        )
        order.state = "REFUND"
        return self._answer(
            200,
            {
                "refund_id": refund["refund_id"],
                "out_refund_no": no,
                "transaction_id": order.transaction_id,
                "out_trade_no": order.out_trade_no,
                "channel": "ORIGINAL",
                "status": refund["refund_status"],
                "amount": refund["amount"],
            },
        )
