"""Logging: plain lines, or with LOG_FORMAT=json one JSON object per line; either way each line
carries the request id of the turn, request or job it was written in (a context variable set
where work enters: the web middleware, Telegram's poller, the worker)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
_GIVEN = re.compile(r"[A-Za-z0-9._:-]{8,128}")  # an id a proxy may hand us (nginx: 32 hex)
TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def new_request_id(given: str | None = None) -> str:
    """`given` (a proxy's X-Request-Id) when it looks like an id, else a fresh one."""
    return given if given and _GIVEN.fullmatch(given) else secrets.token_hex(8)


class _WithRequestId(logging.Filter):
    """Every record gets the request id of the work it was written in."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, process, and the
    traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
            "process": os.getpid(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def handler(stream: TextIO, json_lines: bool) -> logging.Handler:
    """A handler writing to `stream`, as text or JSON lines, with request ids."""
    made = logging.StreamHandler(stream)
    made.addFilter(_WithRequestId())
    made.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT))
    return made


def setup(json_lines: bool, level: int = logging.WARNING) -> None:
    """Log to standard error, as text or JSON lines, with request ids."""
    root = logging.getLogger()
    root.handlers[:] = [handler(sys.stderr, json_lines)]
    root.setLevel(level)


def user_hash(user_key: str) -> str:
    """A short, stable, non-reversible tag for a user, for logs (never a raw id)."""
    return hashlib.sha256(user_key.encode()).hexdigest()[:12]
