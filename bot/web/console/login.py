"""GET/POST /admin/login and POST /admin/logout.

The login form's CSRF token is a double submit: a random value in a cookie (HttpOnly,
SameSite=Strict) and the same value signed with BOT_SECRET in the form, so strangers opening the
page create nothing in Redis. A good login starts a new session (a fresh id: no fixation) with
its own CSRF token; `next` may only lead inside /admin.
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web
from aiohttp_session import get_session, new_session

from bot.services import signing
from bot.services.admins import Account, Admins, LoginRefusal
from bot.templating import request_locale
from bot.web.console.guard import Guard, new_csrf
from bot.web.console.render import render

LOGIN_COOKIE = "tp_console_login"
PURPOSE = "console-login"
MAX_FIELD = 200
STATUS = {LoginRefusal.WRONG: 401, LoginRefusal.DISABLED: 403, LoginRefusal.TOO_MANY: 429}
MESSAGE = {
    LoginRefusal.WRONG: "console.login_wrong",
    LoginRefusal.DISABLED: "console.login_disabled",
    LoginRefusal.TOO_MANY: "console.login_too_many",
}


def _next(target: str) -> str:
    """Where to go after logging in: a path inside /admin, nowhere else."""
    inside = target == "/admin" or target.startswith("/admin/")
    return target if inside and not target.startswith("//") and "\\" not in target else "/admin"


class Login:
    """The login page and logout."""

    def __init__(self, admins: Admins, guard: Guard, secret: str, secure: bool) -> None:
        self.admins = admins
        self.guard = guard
        self.secret = secret
        self.secure = secure

    def _form(
        self, request: web.Request, status: int = 200, message: str = "", name: str = ""
    ) -> web.Response:
        locale = request_locale(request)
        nonce = secrets.token_urlsafe(24)
        response = render(
            request,
            "console/login.html",
            None,
            locale,
            status=status,
            token=signing.sign(self.secret, PURPOSE, nonce),
            next=_next(request.query.get("next", "/admin")),
            message=message,
            name=name,
        )
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            path="/admin",
            httponly=True,
            samesite="Strict",
            secure=self.secure,
            max_age=3600,
        )
        return response

    async def page(self, request: web.Request) -> web.StreamResponse:
        """The form (an admin already logged in goes straight in)."""
        if await self.guard.viewer(request) is not None:
            raise web.HTTPSeeOther(_next(request.query.get("next", "/admin")))
        return self._form(request)

    async def submit(self, request: web.Request) -> web.StreamResponse:
        """Check the form and the password; start a session."""
        form = await request.post()
        name = str(form.get("username", ""))[:MAX_FIELD].strip()
        password = str(form.get("password", ""))[:MAX_FIELD]
        nonce = signing.unsign(self.secret, PURPOSE, str(form.get("csrf", ""))) or ""
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce or not hmac.compare_digest(nonce.encode(), cookie.encode()):
            address = self.guard.address(request)
            await self.admins.audit.refused(name or "?", "refused", "login without CSRF", address)
            return self._form(request, 403, "console.csrf", name)
        result = await self.admins.login(name, password, self.guard.address(request))
        if isinstance(result, LoginRefusal):
            return self._form(request, STATUS[result], MESSAGE[result], name)
        await self._start(request, result)
        raise web.HTTPSeeOther(_next(str(form.get("next", "/admin"))))

    async def _start(self, request: web.Request, account: Account) -> None:
        locale = request_locale(request)
        session = await new_session(request)
        session["user"] = account.name
        session["csrf"] = new_csrf()
        session["lang"] = locale

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """End the session (a POST carrying the CSRF token)."""
        viewer = await self.guard.viewer(request)
        if viewer is not None:
            form = await request.post()
            sent = str(form.get("csrf", ""))
            if not hmac.compare_digest(sent.encode(), viewer.csrf.encode()):
                return web.Response(status=403, text="CSRF")
            await self.admins.audit.record(viewer.name, "logout", "", viewer.address)
            (await get_session(request)).invalidate()
        raise web.HTTPSeeOther("/admin/login")
