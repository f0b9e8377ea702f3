"""`doctor`'s look at the platforms, through their own client libraries: Telegram (the token,
the webhook), WeChat (callbacks signed with WECHAT_TOKEN, the app id and secret, the server's IP
on the allow-list, the menu), WeChat Pay (keys, a signed call, WeChat Pay's signature under the
configured public key id, its clock). Nothing is changed: WeChat's token is asked for with
`stable_token` (which does not void the one the bot uses), WeChat Pay is asked about an order
that does not exist.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC
from typing import Any

import aiohttp
from telegram.error import Forbidden, InvalidToken, TelegramError
from wechatpayv3.utils import build_authorization, load_private_key, load_public_key, rsa_verify
from wechatpy.client import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.utils import WeChatSigner

from bot.channels.telegram.outlet import make_bot
from bot.channels.wechat.api import DEFAULT_BASE
from bot.channels.wechat.pay import NOTIFY_PATH, read_key
from bot.config import Settings
from bot.errors import ConfigError
from bot.ops.findings import Finding, clock, fail, ok, reason, warn

PENDING_WARN = 100  # updates waiting at Telegram: the webhook is not keeping up
TIMEOUT = aiohttp.ClientTimeout(total=10)
WECHAT_REFUSALS = {
    40013: ("WECHAT_APP_ID is not an app id WeChat knows", "copy it from 基本配置 (AppID)"),
    40125: ("WECHAT_APP_SECRET is refused", "reset it in 基本配置 (AppSecret) and set it again"),
    40164: (
        "this server's address is not on the account's IP allow-list",
        "add the server's public IP in 基本配置 → IP白名单",
    ),
}
NO_MENU = 46003


async def telegram(settings: Settings) -> list[Finding]:
    """The token works; the webhook is where this deployment says, or absent for polling."""
    try:
        async with make_bot(settings) as bot:
            me = await bot.get_me()
            info = await bot.get_webhook_info()
    except (InvalidToken, Forbidden) as exc:
        fix = "copy the token from @BotFather into TELEGRAM_BOT_TOKEN"
        return [fail("telegram", f"TELEGRAM_BOT_TOKEN is refused ({exc})", fix)]
    except TelegramError as exc:
        fix = "from mainland China Telegram needs a relay: set TELEGRAM_API_BASE_URL"
        return [fail("telegram", f"the Bot API does not answer ({reason(exc)})", fix)]
    found = [ok("telegram", f"the token is @{me.username}'s")]
    want = f"{settings.public_base_url}/telegram"
    if settings.telegram_webhook_secret and info.url != want:
        said = f"the webhook is {info.url or 'not set'}, not {want}"
        found.append(fail("telegram", said, f"python -m bot telegram set-webhook {want}"))
    elif settings.telegram_webhook_secret:
        found.append(ok("telegram", f"the webhook is {want}, with the secret"))
    elif info.url:
        said = f"a webhook is set ({info.url}) but TELEGRAM_WEBHOOK_SECRET is not: polling fails"
        fix = "set TELEGRAM_WEBHOOK_SECRET and run telegram set-webhook (or delete the webhook)"
        found.append(fail("telegram", said, fix))
    else:
        found.append(ok("telegram", "no webhook: the first serve process long-polls"))
    if info.pending_update_count > PENDING_WARN:
        said = f"{info.pending_update_count} updates wait at Telegram"
        found.append(warn("telegram", said, "more serve processes, or look at the proxy's log"))
    if info.last_error_message:
        when = info.last_error_date.astimezone(UTC) if info.last_error_date else "lately"
        said = f"Telegram's last delivery failed ({when}): {info.last_error_message}"
        if "403" in info.last_error_message:  # the bot refused it: not the secret it expects
            fix = (
                f"the secret Telegram sends is not ours: python -m bot telegram set-webhook {want}"
            )
            found.append(fail("telegram", said, fix))
        else:
            found.append(warn("telegram", said, "look at the proxy's and serve's logs"))
    return found


async def wechat(settings: Settings, session: aiohttp.ClientSession) -> list[Finding]:
    """Callbacks answer WeChat's check; the app id and secret get a token from this server's
    address; the custom menu is there."""
    found = [await _callback(settings, session)]
    if not (settings.wechat_app_id and settings.wechat_app_secret):
        said = "no WECHAT_APP_ID and WECHAT_APP_SECRET: passive replies only (no notices, menu)"
        return [*found, warn("wechat", said, "set both from 基本配置")]
    base = settings.wechat_api_base_url or DEFAULT_BASE
    body = {
        "grant_type": "client_credential",
        "appid": settings.wechat_app_id,
        "secret": settings.wechat_app_secret,
        "force_refresh": False,
    }
    try:
        async with session.post(f"{base}/cgi-bin/stable_token", json=body, timeout=TIMEOUT) as got:
            answer = await got.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        said = f"{base} does not answer ({reason(exc)})"
        return [*found, fail("wechat", said, "check the network (and a proxy, if one is used)")]
    code = int(answer.get("errcode") or 0)
    if code:
        said, fix = WECHAT_REFUSALS.get(code, (f"WeChat refused the token ({code})", "see errmsg"))
        return [*found, fail("wechat", f"{said}: {answer.get('errmsg', '')}", fix)]
    found.append(ok("wechat", "the app id and secret get a token from this server's address"))
    return [*found, await _menu(settings, base, str(answer["access_token"]))]


async def _callback(settings: Settings, session: aiohttp.ClientSession) -> Finding:
    """WeChat's server check (a signed GET with `echostr`) through the public address."""
    if not settings.wechat_token:
        fix = "set the token typed in 基本配置 → 服务器配置"
        return fail("wechat", "WECHAT_TOKEN is not set: WeChat's callbacks are refused", fix)
    signer = WeChatSigner()
    timestamp, nonce, echo = str(int(time.time())), secrets.token_hex(8), secrets.token_hex(8)
    signer.add_data(settings.wechat_token, timestamp, nonce)
    query = {
        "signature": signer.signature,
        "timestamp": timestamp,
        "nonce": nonce,
        "echostr": echo,
    }
    url = f"{settings.public_base_url}/wechat"
    fix = "pass /wechat on to the bot (deploy/nginx.conf); the token must match 服务器配置's"
    try:
        async with session.get(url, params=query, timeout=TIMEOUT) as answer:
            text = await answer.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return fail("wechat", f"{url} does not answer ({reason(exc)})", fix)
    if text != echo:
        return fail("wechat", f"{url} did not pass WeChat's check signed with WECHAT_TOKEN", fix)
    return ok("wechat", f"{url} passes WeChat's server check with WECHAT_TOKEN")


async def _menu(settings: Settings, base: str, token: str) -> Finding:
    client = WeChatClient(settings.wechat_app_id, settings.wechat_app_secret, access_token=token)
    client.API_BASE_URL = f"{base}/cgi-bin/"
    try:
        menu: Any = await asyncio.to_thread(client.menu.get)
    except WeChatClientException as exc:
        if exc.errcode != NO_MENU:
            return fail("wechat", f"the menu could not be read ({exc})", "see errmsg")
        menu = None
    if not menu:
        return fail("wechat", "the account has no custom menu", "python -m bot wechat menu")
    buttons = len((menu.get("menu") or {}).get("button") or [])
    return ok("wechat", f"the custom menu is there ({buttons} buttons)")


async def wechatpay(settings: Settings, session: aiohttp.ClientSession) -> list[Finding]:
    """The keys load; WeChat Pay accepts the merchant's signature; its answer verifies under
    WECHATPAY_PUBLIC_KEY with WECHATPAY_PUBLIC_KEY_ID; notifications come over https."""
    topic = "wechat pay"
    try:
        private = read_key("WECHATPAY_PRIVATE_KEY", settings.wechatpay_private_key, False)
        public = read_key("WECHATPAY_PUBLIC_KEY", settings.wechatpay_public_key, True)
    except ConfigError as exc:
        return [fail(topic, str(exc), "point it at the PEM file from the merchant platform")]
    found = [ok(topic, "the merchant's private key and WeChat Pay's public key load")]
    notify = f"{settings.public_base_url}{NOTIFY_PATH}"
    if not notify.startswith("https://"):
        fix = "PUBLIC_BASE_URL must be https: WeChat Pay notifies only https addresses"
        found.append(fail(topic, f"the notify URL {notify} is not https", fix))
    mchid, serial = settings.wechatpay_mchid or "", settings.wechatpay_cert_serial
    path = f"/v3/pay/transactions/out-trade-no/DOCTOR{int(time.time())}?mchid={mchid}"
    signature = build_authorization(path, "GET", mchid, serial, load_private_key(private))
    headers = {
        "Authorization": signature,
        "Accept": "application/json",
        "Wechatpay-Serial": settings.wechatpay_public_key_id or "",
    }
    base = settings.wechatpay_api_base_url
    try:
        async with session.get(base + path, headers=headers, timeout=TIMEOUT) as answer:
            status, text, signed = answer.status, await answer.text(), answer.headers
    except (aiohttp.ClientError, TimeoutError) as exc:
        said = f"{base} does not answer ({reason(exc)})"
        return [*found, fail(topic, said, "check the network (and a proxy, if one is used)")]
    return found + _answer(settings, load_public_key(public), status, text, signed)


def _answer(settings: Settings, public: Any, status: int, text: str, signed: Any) -> list[Finding]:
    """What WeChat Pay's answer to the signed query says about the configuration."""
    topic, key_id = "wechat pay", settings.wechatpay_public_key_id
    if status == 401:
        fix = "WECHATPAY_MCHID, WECHATPAY_CERT_SERIAL and WECHATPAY_PRIVATE_KEY must match"
        return [fail(topic, "WeChat Pay refused the merchant's signature", fix)]
    if status not in (200, 404):
        return [fail(topic, f"WeChat Pay answered {status}: {text[:200]}", "see its message")]
    found = [ok(topic, "WeChat Pay accepts the merchant's signature")]
    serial, timestamp = signed.get("Wechatpay-Serial", ""), signed.get("Wechatpay-Timestamp", "0")
    nonce, signature = signed.get("Wechatpay-Nonce", ""), signed.get("Wechatpay-Signature", "")
    if serial != key_id:
        said = f"WeChat Pay signs with {serial!r}; WECHATPAY_PUBLIC_KEY_ID is {key_id!r}"
        fix = "copy the public key id and the key from the merchant platform (API安全)"
        return [*found, fail(topic, said, fix)]
    if not rsa_verify(timestamp, nonce, text, signature, public):
        said = "WECHATPAY_PUBLIC_KEY does not verify WeChat Pay's answer"
        fix = "download WeChat Pay's public key again from the merchant platform (API安全)"
        return [*found, fail(topic, said, fix)]
    found.append(ok(topic, f"WeChat Pay's answers verify under {serial}"))
    return [*found, clock("WeChat Pay", float(timestamp), time.time())]
