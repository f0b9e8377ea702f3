"""Open the platforms this process talks to, and the output port over them: the one place
channel adapters are built, for `serve` and for `worker` alike; and the WeChat Pay client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from bot.channels.pacing import NoPace, SharedBudget
from bot.channels.port import Outlet, Port
from bot.channels.telegram.outlet import TelegramOutlet, make_bot
from bot.channels.wechat.api import make_api
from bot.channels.wechat.outlet import WeChatOutlet
from bot.channels.wechat.pay import WeChatPayGateway
from bot.config import Settings
from bot.model import Channel, immutable
from bot.runtime import Runtime


@immutable
class Channels:
    """The outlets of one process (each there when configured) and the port over them."""

    port: Port
    telegram: TelegramOutlet | None = None
    wechat: WeChatOutlet | None = None


@contextlib.asynccontextmanager
async def open_channels(
    runtime: Runtime, settings: Settings, *, appeals: bool = False
) -> AsyncIterator[Channels]:
    """Telegram's client when a token is set, WeChat's when app id and secret are; closed on
    exit. Telegram's sends come out of one budget shared by every process in Redis
    (TELEGRAM_RATE_LIMIT overall, TELEGRAM_CHAT_RATE per chat); appeals (`appeals=True`) take
    at most BROADCAST_RATE of it, on WeChat too."""
    paces = runtime.store.paces
    share = ("appeals", settings.broadcast_rate) if appeals else None

    async with contextlib.AsyncExitStack() as stack:
        outlets: dict[str, Outlet] = {}
        telegram = wechat = None
        if settings.telegram_bot_token:
            bot = make_bot(settings)
            await stack.enter_async_context(bot)
            telegram_pace = SharedBudget(
                paces,
                Channel.TELEGRAM,
                settings.telegram_rate_limit,
                settings.telegram_chat_rate,
                share,
            )
            telegram = TelegramOutlet(bot, runtime.store.users, telegram_pace, runtime.store.media)
            outlets[Channel.TELEGRAM] = telegram
        if settings.wechat_app_id and settings.wechat_app_secret:
            api = make_api(settings, runtime.redis_url)
            stack.callback(api.close)
            wechat_pace = (
                SharedBudget(paces, Channel.WECHAT, settings.broadcast_rate)
                if appeals
                else NoPace()
            )
            wechat = WeChatOutlet(
                api,
                runtime.store.users,
                wechat_pace,
                dict(settings.wechat_templates),
            )
            outlets[Channel.WECHAT] = wechat
        port = Port(outlets, runtime.store.users, note_when_missed=not appeals)
        yield Channels(port, telegram, wechat)


@contextlib.asynccontextmanager
async def open_gateway(
    runtime: Runtime, settings: Settings
) -> AsyncIterator[WeChatPayGateway | None]:
    """The WeChat Pay client when a merchant account is configured, attached to the payments
    service while it is open. Missing or malformed keys stop the start (ConfigError)."""
    if not settings.wechatpay_mchid:
        yield None
        return
    async with WeChatPayGateway(settings) as gateway:
        runtime.payments.attach(gateway)
        try:
            yield gateway
        finally:
            runtime.payments.attach(None)
