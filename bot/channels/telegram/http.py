"""python-telegram-bot's transport on aiohttp, the project's HTTP client.

PTB defines `BaseRequest` for plugging in a transport; its default (httpx) spends most of a busy
bot's time scanning its connection pool (measured in bench/telegram_webhook.py), so the bot
talks to the Bot API through one aiohttp session instead.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import aiohttp
import orjson
from telegram._utils.defaultvalue import DefaultValue  # PTB's own transports use these
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

DEFAULT_TIMEOUT_S = 10.0
JSON = {"Content-Type": "application/json"}
Headers: TypeAlias = dict[str, str]


def _seconds(value: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value


class AiohttpRequest(BaseRequest):
    """Bot API requests over an aiohttp session with a bounded connection pool."""

    def __init__(self, pool_size: int = 64, read_timeout: float | None = DEFAULT_TIMEOUT_S):
        self._pool_size = pool_size
        self._read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default time to wait for an answer."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (idempotent)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size)
            self._session = aiohttp.ClientSession(connector=connector)

    async def shutdown(self) -> None:
        """Close the session (idempotent)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    @staticmethod
    def parse_json_payload(payload: bytes) -> Any:
        """The Bot API's answer, parsed by orjson; one that is not valid UTF-8 goes to PTB's
        own parser (it replaces the bad bytes)."""
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            return BaseRequest.parse_json_payload(payload)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; timeouts become TimedOut, connection faults NetworkError."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        timeout = aiohttp.ClientTimeout(
            sock_read=_seconds(read_timeout, self._read_timeout),
            sock_connect=_seconds(connect_timeout, DEFAULT_TIMEOUT_S),
            connect=_seconds(pool_timeout, DEFAULT_TIMEOUT_S),
        )
        try:
            body, headers = _body(request_data)
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp: {exc!r}") from exc


def _body(request_data: RequestData | None) -> tuple[bytes | aiohttp.FormData | None, Headers]:
    """A JSON body (the Bot API takes one; URL-encoding Chinese text costs three times its
    length in escapes), or multipart when files go along; and the headers it needs."""
    if request_data is None:
        return None, {}
    if not request_data.contains_files:
        return orjson.dumps(request_data.parameters), JSON
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form, {}
