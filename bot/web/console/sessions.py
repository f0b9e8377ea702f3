"""Console sessions for aiohttp-session, kept in the bot's Redis under its key prefix.

The cookie (`tp_console`) carries a random id: HttpOnly, SameSite=Strict, path /admin, Secure
when PUBLIC_BASE_URL is https. Redis keeps the session under a hash of that id (a copy of Redis
holds no usable cookie) for 8 hours, renewed by every request, so 8 idle hours end it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import cast

from aiohttp import web
from aiohttp_session import AbstractStorage, Session, SessionData

from bot.store.admins import AdminStore

COOKIE = "tp_console"


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class ConsoleStorage(AbstractStorage):
    """aiohttp-session storage over the admin store."""

    def __init__(self, store: AdminStore, secure: bool) -> None:
        super().__init__(
            cookie_name=COOKIE, path="/admin", secure=secure, httponly=True, samesite="Strict"
        )
        self.store = store

    async def load_session(self, request: web.Request) -> Session:
        """The session the cookie names, or a new one."""
        session_id = self.load_cookie(request)
        data = await self.store.load_session(_key(session_id)) if session_id else None
        if session_id is None or data is None:
            return Session(None, data=None, new=True, max_age=None)
        return Session(session_id, data=cast(SessionData, data), new=False, max_age=None)

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        """Keep a changed session (a new one gets a fresh id); an emptied one is forgotten."""
        session_id = session.identity
        if session.empty:
            if session_id is not None:
                await self.store.end_session(_key(str(session_id)))
            self.save_cookie(response, "")
            return
        if session_id is None:
            session_id = secrets.token_urlsafe(32)
        data = {"created": session.created or int(time.time()), "session": dict(session)}
        await self.store.save_session(_key(str(session_id)), data)
        self.save_cookie(response, str(session_id))
