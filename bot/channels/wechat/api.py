"""The WeChat Official Account API: wechatpy's client with a shared access_token.

The token lives in Redis (wechatpy's RedisStorage), so every process uses the same one; one
process at a time fetches a new one (the store's TokenLock), and wechatpy refetches on
40001/40014/42001. wechatpy hard-codes the token URL; here it follows WECHAT_API_BASE_URL like
every other call. wechatpy is blocking: `WeChatApi` runs its calls on a small thread pool, off
the event loop, retrying WeChat's "busy" (-1) with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import redis
import requests
from requests.adapters import HTTPAdapter
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential
from wechatpy.client import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

from bot.config import Settings
from bot.errors import ConfigError
from bot.model import image_type
from bot.store.keys import Keys
from bot.store.wechat_token import TokenLock, connect_sync

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_BASE = "https://api.weixin.qq.com"
TOKEN_RETRIES = 1  # calls retried after a token refresh (wechatpy does the retrying)
WORKERS = 16
BUSY = -1  # "system busy, try again"
BUSY_ATTEMPTS = 3
OUT_OF_WINDOW = 45015  # the user has not written in 48 hours: unreachable by service messages
QUOTA = 45047  # too many service messages to this user
NOT_SUBSCRIBED = 43101  # the user has no subscription to this template (any more)
TICKET_MARGIN_S = 300  # a JS-SDK ticket is renewed this long before it expires


def _busy(exc: BaseException) -> bool:
    return isinstance(exc, WeChatClientException) and exc.errcode == BUSY


def read_environment_once(http: requests.Session, base: str) -> None:
    """Give the session what requests would read from the environment on every call (a
    proxy for `base`, honouring NO_PROXY; a CA bundle): scanning every variable each time cost
    a third of a call's CPU. Every call goes to `base`, so one reading serves them all."""
    http.proxies = requests.utils.get_environ_proxies(base)
    http.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    http.trust_env = False


class SharedTokenClient(WeChatClient):  # type: ignore[misc]
    """wechatpy's client with its token in Redis, fetched by one process at a time."""

    def __init__(self, settings: Settings, sync_redis: redis.Redis) -> None:
        if not (settings.wechat_app_id and settings.wechat_app_secret):
            raise ConfigError("WECHAT_APP_ID and WECHAT_APP_SECRET are needed to call WeChat")
        keys = Keys(settings.key_prefix)
        storage = RedisStorage(sync_redis, prefix=keys.wechat_token_prefix())
        super().__init__(
            settings.wechat_app_id, settings.wechat_app_secret, session=storage, timeout=10
        )
        base = settings.wechat_api_base_url or DEFAULT_BASE
        self.API_BASE_URL = f"{base}/cgi-bin/"
        self.token_url = f"{base}/cgi-bin/token"
        self.lock = TokenLock(sync_redis, keys.wechat_token_lock())
        self.ticket_lock = TokenLock(sync_redis, keys.wechat_ticket_lock())
        self._local = threading.local()  # per thread: the token the last call used
        pooled = HTTPAdapter(pool_maxsize=WORKERS)  # one kept connection per worker thread
        for scheme in ("http://", "https://"):
            self._http.mount(scheme, pooled)
        read_environment_once(self._http, base)

    @property
    def access_token(self) -> str:
        """The shared token; fetched when there is none."""
        token = self.session.get(self.access_token_key)
        if not token:
            self.fetch_access_token()
            token = self.session.get(self.access_token_key)
        return str(token)

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        """wechatpy retries a call after refreshing the token by calling this again; bound it,
        so a token WeChat keeps refusing cannot loop."""
        depth = getattr(self._local, "depth", 0)
        if depth > TOKEN_RETRIES:
            raise WeChatClientException(40001, "access_token refused again after a refresh")
        self._local.depth = depth + 1
        try:
            return super()._request(method, url_or_endpoint, **kwargs)
        finally:
            self._local.depth = depth

    def _handle_result(
        self,
        res: Any,
        method: Any = None,
        url: Any = None,
        result_processor: Any = None,
        **kwargs: Any,
    ) -> Any:
        self._local.used = (kwargs.get("params") or {}).get("access_token")
        return super()._handle_result(res, method, url, result_processor, **kwargs)

    def fetch_access_token(self) -> dict[str, Any]:
        """Fetch a new token, unless another process already replaced the one that failed.
        Only one process fetches at a time; the others wait and take its token."""
        used = getattr(self._local, "used", None)
        with self.lock.held():
            current = self.session.get(self.access_token_key)
            if current and current != used:
                return {"access_token": current}
            params = {
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self.secret,
            }
            result: dict[str, Any] = self._fetch_access_token(url=self.token_url, params=params)
            return result

    def jsapi_ticket(self) -> str:
        """The JS-SDK ticket (for `wx.config`), kept in Redis beside the token and fetched by
        one process at a time; renewed a little before WeChat lets it expire."""
        key = f"{self.appid}_jsapi_ticket"
        ticket = self.session.get(key)
        if ticket:
            return str(ticket)
        with self.ticket_lock.held():
            ticket = self.session.get(key)
            if not ticket:
                found = self.jsapi.get_ticket("jsapi")
                ticket = str(found["ticket"])
                kept = max(60, int(found.get("expires_in", 7200)) - TICKET_MARGIN_S)
                self.session.set(key, ticket, kept)
        return str(ticket)


class WeChatApi:
    """The calls the bot makes, awaitable, retried when WeChat is busy."""

    def __init__(self, client: SharedTokenClient) -> None:
        self.client = client
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="wechat-api")

    async def _run(self, call: Callable[[], T]) -> T:
        """`call` on a worker thread; WeChat's "busy" retried with backoff."""
        retrying = AsyncRetrying(
            retry=retry_if_exception(_busy),
            stop=stop_after_attempt(BUSY_ATTEMPTS),
            wait=wait_exponential(multiplier=0.3, max=2),
            reraise=True,
        )
        result: T = await retrying(self._in_thread, call)
        return result

    async def _in_thread(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def upload_image(self, image: bytes, name: str) -> str:
        """Upload a temporary image (PNG or JPEG); its media_id."""
        files = {"media": (name, image, f"image/{image_type(image)}")}
        result: dict[str, Any] = await self._run(
            lambda: self.client.post("media/upload", params={"type": "image"}, files=files)
        )
        return str(result["media_id"])

    async def send_text(self, openid: str, text: str) -> None:
        """A customer-service text message."""
        await self._run(lambda: self.client.message.send_text(openid, text))

    async def send_image(self, openid: str, media_id: str) -> None:
        """A customer-service image message."""
        await self._run(lambda: self.client.message.send_image(openid, media_id))

    async def send_subscription(
        self,
        openid: str,
        template_id: str,
        data: dict[str, dict[str, str]],
        url: str | None = None,
    ) -> None:
        """A subscription notification (message/subscribe/bizsend); tapped, it opens `url`
        (none: the card alone, the whole notice waits in the chat)."""
        send = self.client.message.send_subscribe_message
        await self._run(lambda: send(openid, template_id, data, page=url))

    async def jsapi_ticket(self) -> str:
        """The shared JS-SDK ticket."""
        return await self._run(self.client.jsapi_ticket)

    async def mass_send_text(self, text: str) -> None:
        """A mass message to every follower (counts against the account's quota)."""
        data = {"filter": {"is_to_all": True}, "text": {"content": text}, "msgtype": "text"}
        await self._run(lambda: self.client.post("message/mass/sendall", data=data))

    async def user_language(self, openid: str) -> str | None:
        """The language of the user's WeChat profile (zh_CN, zh_TW, en), if it can be read."""
        try:
            info = await self._run(lambda: self.client.user.get(openid))
        except (WeChatClientException, OSError) as exc:
            log.info("user/info failed: %s", exc)
            return None
        language = info.get("language") if isinstance(info, dict) else None
        return str(language) if language else None

    async def download_media(self, media_id: str, limit: int) -> bytes | None:
        """A temporary media file (a photo a user sent): its bytes, b"" when over `limit`,
        None when WeChat refuses or answers with something else."""
        try:
            response = await self._run(lambda: self.client.media.download(media_id))
        except (WeChatClientException, OSError) as exc:
            log.info("media/get failed: %s", exc)
            return None
        content = getattr(response, "content", None)
        if not isinstance(content, bytes):
            return None
        return content if len(content) <= limit else b""

    async def create_menu(self, menu: dict[str, Any]) -> None:
        """Replace the account's custom menu."""
        await self._run(lambda: self.client.menu.create(menu))

    def close(self) -> None:
        """Stop the worker threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def make_api(settings: Settings, redis_url: str) -> WeChatApi:
    """The API client, its token shared through Redis at `redis_url`."""
    sync = connect_sync(
        redis_url,
        settings.redis_cluster,
        settings.redis_sentinels,
        settings.redis_sentinel_master,
    )
    return WeChatApi(SharedTokenClient(settings, sync))
