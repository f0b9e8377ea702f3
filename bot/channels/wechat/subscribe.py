"""GET /wechat/subscribe: the page where a WeChat user allows notices for later, with the
JS-SDK's `wx-open-subscribe` tag. Its `wx.config` is signed with the JS-SDK ticket (shared in
Redis, fetched by one process at a time: wechat_api.py) the way WeChat documents: SHA1 of
`jsapi_ticket=...&noncestr=...&timestamp=...&url=...` for the page's exact address."""

from __future__ import annotations

import json
import logging
import secrets
import time

from aiohttp import web
from wechatpy.exceptions import WeChatClientException

from bot.channels.wechat.inbound import SUBSCRIBE_PATH, WECHAT
from bot.templating import page, request_locale

log = logging.getLogger(__name__)


async def subscribe_page(request: web.Request) -> web.Response:
    """The page; without WeChat credentials or templates it says notices are not offered."""
    locale = request_locale(request)
    channel = request.app.get(WECHAT)
    if channel is None or channel.outlet is None or not channel.templates:
        return page("wechat_subscribe.html", locale, status=404, config="")
    api = channel.outlet.api
    try:
        ticket = await api.jsapi_ticket()
    except (WeChatClientException, OSError) as exc:
        log.warning("JS-SDK ticket unavailable: %s", exc)
        return page("wechat_subscribe.html", locale, status=503, config="")
    stamp, nonce = str(int(time.time())), secrets.token_hex(8)
    url = f"{channel.public_base_url}{request.path_qs}"  # the address as the browser has it
    config = {
        "appId": api.client.appid,
        "timestamp": stamp,
        "nonceStr": nonce,
        "signature": api.client.jsapi.get_jsapi_signature(nonce, ticket, stamp, url),
        "jsApiList": ["checkJsApi"],
        "openTagList": ["wx-open-subscribe"],
    }
    templates = ",".join(dict.fromkeys(channel.templates.values()))
    return page("wechat_subscribe.html", locale, config=json.dumps(config), templates=templates)


def setup(app: web.Application) -> None:
    """Add the page."""
    app.router.add_get(SUBSCRIBE_PATH, subscribe_page)
