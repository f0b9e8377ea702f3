"""Paying: GET /pay/{token} (the pay page), GET /pay/{token}/status, POST
/pay/wechat/notify (WeChat Pay's notifications), and on a newcomer's machine POST
/pay/{token}/demo (the demo page's one button).

The page shows the amount, base and status. Opened in WeChat's browser by the WeChat user who
pledged, when the merchant is bound to the Official Account's app id, it pays by JSAPI; anywhere
else it shows the Native order's QR code to scan with WeChat. It turns to "paid" by itself.
Notifications are verified (bot/channels/wechat/pay.py) and checked against the order by the
payments service; only a notification that does not match gets a 4xx.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from typing import Any

import qrcode
from aiohttp import web

from bot import metrics
from bot.catalog import Catalog
from bot.channels.wechat.pay import WeChatPayGateway, refund_of, report_of
from bot.model import Channel
from bot.services.payments import Mode, Outcome, Payments
from bot.store.payments import Order, OrderStatus
from bot.templating import page, request_locale

log = logging.getLogger(__name__)

MAX_NOTIFY_BODY = 64 * 1024
GATEWAY = web.AppKey("wechatpay", WeChatPayGateway)


def _qr(data: str) -> str:
    """A QR code as a data: URL for an <img>."""
    image = qrcode.make(data, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


class PayPages:
    """The pay page and the notification endpoint."""

    def __init__(self, payments: Payments, catalog: Catalog, wechat_app_id: str) -> None:
        self.payments = payments
        self.catalog = catalog
        self.wechat_app_id = wechat_app_id

    async def page(self, request: web.Request) -> web.Response:
        """The pay page of an order (404 for a bad or expired link)."""
        locale = request_locale(request)
        order = await self.payments.order_of(request.match_info["token"])
        if order is None:
            return page("not_found.html", locale, status=404, what="page")
        pledge = await self.payments.pledges.get(order.user_key, order.pledge_id)
        context: dict[str, Any] = {
            "amount": f"{order.amount_fen / 100:.2f}",
            "base": self.catalog.base_name(pledge.base if pledge else "", locale),
            "form": self.catalog.form_name(pledge.form if pledge else "", locale),
            "state": str(order.status),
            "poll": f"{request.path}/status",
            "qr": "",
            "jsapi": "",
            "demo": self.payments.mode == Mode.DEMO,
        }
        if order.status == OrderStatus.OPEN and context["demo"]:
            context["action"] = f"{request.path}/demo"
        elif order.status == OrderStatus.OPEN:
            try:
                context |= await self._how_to_pay(request, order)
            except Exception:  # the library raises bare Exception (a bad signature, say)
                log.exception("WeChat Pay could not make the order %s", order.out_trade_no)
                return page("pay.html", locale, status=503, **context | {"state": "unavailable"})
        return page("pay.html", locale, **context)

    async def _how_to_pay(self, request: web.Request, order: Order) -> dict[str, str]:
        in_wechat = "MicroMessenger" in request.headers.get("User-Agent", "")
        bound = self.payments.merchant is not None and (
            self.payments.merchant.appid == self.wechat_app_id
        )
        jsapi = order.kind in ("", "jsapi")  # an order made as Native stays Native
        if in_wechat and bound and jsapi and order.user_key.channel == Channel.WECHAT:
            params = await self.payments.jsapi(order, order.user_key.user_id)
            return {"jsapi": json.dumps(params)}
        if order.kind == "jsapi":  # begun inside WeChat: scanning this page opens it there
            return {"qr": _qr(f"{self.payments.public_base_url}{request.path}")}
        order = await self.payments.native(order)
        return {"qr": _qr(order.code_url)}

    async def demo(self, request: web.Request) -> web.StreamResponse:
        """The demo page's button: pays the order as a verified notification would, then
        shows the page again; 404 unless payments are in demo mode."""
        order = await self.payments.order_of(request.match_info["token"])
        if order is None or self.payments.mode != Mode.DEMO:
            return page("not_found.html", request_locale(request), status=404, what="page")
        outcome = await self.payments.demo_pay(order)
        log.info("demo payment of %s: %s", order.out_trade_no, outcome)
        raise web.HTTPSeeOther(request.path.removesuffix("/demo"))

    async def status(self, request: web.Request) -> web.Response:
        """Whether the order is paid yet: `{"status": "open" | "paid" | ...}`."""
        order = await self.payments.order_of(request.match_info["token"])
        if order is None:
            return web.json_response({"status": "unknown"}, status=404)
        return web.json_response({"status": str(order.status)})

    async def notify(self, request: web.Request) -> web.Response:
        """POST /pay/wechat/notify: 204 once handled (or nothing to do), 4xx for anything not
        from WeChat Pay or not matching its order (which is flagged); each counted by
        outcome."""
        gateway = request.app.get(GATEWAY)
        body = await request.read()
        if gateway is None:
            return _refused(404, "WeChat Pay is not configured here", "unconfigured")
        if len(body) > MAX_NOTIFY_BODY:
            return _refused(413, "too large", "too_large")
        notification = gateway.verify(request.headers, body)
        if notification is None:
            return _refused(401, "signature, timestamp or resource not accepted", "unsigned")
        if notification.event_type.startswith("REFUND."):
            outcome = await self.payments.refunded(refund_of(notification.resource))
        else:
            outcome = await self.payments.paid(report_of(notification.resource))
        if outcome == Outcome.REFUSED:
            return _refused(400, "does not match its order", "refused")
        metrics.NOTIFICATIONS.labels(str(outcome)).inc()
        return web.Response(status=204)


def _refused(status: int, why: str, outcome: str) -> web.Response:
    log.info("WeChat Pay notification refused: %s", why)
    metrics.NOTIFICATIONS.labels(outcome).inc()
    return web.json_response({"code": "FAIL", "message": why}, status=status)


def setup(app: web.Application, pages: PayPages) -> None:
    """Add the pay routes."""
    app.router.add_get("/pay/{token}", pages.page)
    app.router.add_get("/pay/{token}/status", pages.status)
    app.router.add_post("/pay/{token}/demo", pages.demo)
    app.router.add_post("/pay/wechat/notify", pages.notify)
