"""Personal data as PIPL asks: the notice before a name, consent recorded (and asked again for a
new notice), age groups and a guardian for children, /mydata, /forget, retention."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.catalog import load_catalog
from bot.channels.port import Port
from bot.config import Settings
from bot.errors import StoreError
from bot.model import UserKey
from bot.runtime import Runtime, build_runtime
from bot.services import consent as consent_module
from bot.services import serials
from bot.services.consent import AgeGroup, Consent
from bot.services.pledges import Pledge, PledgeStatus, is_anonymous
from bot.store import Store
from bot.store.keys import Keys
from bot.web.app import create_app
from bot.worker.outbox import Worker
from tests.kit.chat import Chat
from tests.kit.fulfil import pay, photo
from tests.kit.slots import add_slot
from tests.kit.store import traces

USER = UserKey("test:p1")


@pytest.fixture
def citizen(runtime: Runtime) -> Chat:
    """A user who reads the notice and answers it themselves."""
    return Chat(runtime.engine, user_id="p1", display_name="张三", agrees=False)


async def own_keys(runtime: Runtime, user: UserKey = USER) -> list[str]:
    """Every key under the user's hash tag, found by SCAN (what /mydata must list)."""
    pattern = runtime.store.keys.user_pattern(user)
    return sorted([k async for k in runtime.store.redis.scan_iter(match=pattern)])


async def test_the_notice_comes_before_the_name_and_decline_keeps_nothing(
    citizen: Chat, runtime: Runtime
) -> None:
    await citizen.say("/pledge")
    text = citizen.text
    assert "运营方：无锡市全民义务植树网上尽责平台" in text  # who runs it (catalogue's issuer)
    for what in (
        "证书上的姓名",
        "平台账号标识",
        "凭证发送的照片",
        "3 年后匿名化",
        "/mydata",
        "/forget",
    ):
        assert what in text
    assert "https://trees.example.org/privacy?lang=zh" in text
    assert citizen.choices[:2] == ["privacy:agree", "privacy:decline"]
    await citizen.say("随便说点什么")  # neither: asked again
    assert "请选择“同意并继续”或“不同意”" in citizen.text
    await citizen.tap("privacy:decline")
    assert "我们没有保存任何信息" in citizen.text and citizen.choices[0] == "menu:pledge"
    kept = [k.rsplit(":", 1)[-1] for k in await own_keys(runtime) if ":seen:" not in k]
    assert kept == ["session"]  # the conversation (back at the menu), nothing else
    assert (await runtime.consents.of(USER)) == Consent()


async def test_agreement_is_recorded_with_its_version_and_asked_again_for_a_new_one(
    citizen: Chat, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await citizen.say("/pledge")
    await citizen.tap("privacy:agree")
    assert "您属于哪个年龄段" in citizen.text
    assert citizen.choices[:5] == [f"age:{g}" for g in AgeGroup]
    await citizen.tap("age:adult")
    assert "请选择尽责基地" in citizen.text
    agreed = await runtime.consents.of(USER)
    assert agreed.notice == consent_module.NOTICE_VERSION and agreed.age == "adult"
    when = datetime.fromisoformat(agreed.agreed_at)
    assert abs((datetime.now(UTC) - when).total_seconds()) < 60
    await citizen.tap("nav:back")  # back does not return to the notice or the age
    assert citizen.choices[0] == "menu:pledge"
    await citizen.say("/pledge")  # asked once
    assert "请选择尽责基地" in citizen.text
    monkeypatch.setattr(consent_module, "NOTICE_VERSION", consent_module.NOTICE_VERSION + 1)
    await citizen.say("/book")  # a new notice: asked again, the age is not
    assert citizen.choices[0] == "privacy:agree"
    await citizen.tap("privacy:agree")
    assert "志愿服务" in citizen.text and "年龄段" not in citizen.text
    assert (await runtime.consents.of(USER)).notice == consent_module.NOTICE_VERSION


@pytest.mark.parametrize(
    ("group", "guardian", "honorary"),
    [
        ("child", True, True),
        ("young", True, False),
        ("adult", False, False),
        ("older_man", False, False),
        ("senior", False, True),
    ],
)
async def test_age_groups_decide_the_certificate_and_children_need_a_guardian(
    citizen: Chat, runtime: Runtime, group: str, guardian: bool, honorary: bool
) -> None:
    await citizen.say("/pledge")
    await citizen.tap("privacy:agree")
    await citizen.tap(f"age:{group}")
    if guardian:
        assert "未满 14 周岁" in citizen.text and "监护人" in citizen.text
        assert citizen.choices[0] == "guardian:agree"
        await citizen.say("张小明")  # a child typing a name here: refused, nothing kept
        assert "请监护人选择" in citizen.text
        assert await runtime.pledges.of_user(USER) == []
        await citizen.tap("guardian:agree")
        assert (await runtime.consents.of(USER)).guardian_at
    assert "请选择尽责基地" in citizen.text
    await citizen.tap("base:jinkui")
    await citizen.tap("form:afforestation")
    await citizen.say("5")
    await citizen.say("张小明")
    await citizen.tap("confirm")
    (pledge,) = await runtime.pledges.of_user(USER)
    assert pledge.honorary is honorary


async def test_the_honorary_certificate_has_its_own_title(runtime: Runtime) -> None:
    renderer, rules = runtime.certificates.renderer, runtime.catalog.rules
    duty = renderer._template("zh", rules.title("zh"), rules.issuer("zh"))
    honour = renderer._template("zh", rules.honorary_title("zh"), rules.issuer("zh"))
    assert duty.tobytes() != honour.tobytes()
    assert runtime.catalog.rules.honorary_title("zh") == "全民义务植树荣誉电子证书"
    assert runtime.catalog.rules.title("zh") == "全民义务植树尽责电子证书"


async def test_mydata_lists_everything_a_scan_of_the_users_keys_finds(
    chat: Chat, runtime: Runtime
) -> None:
    user = UserKey("test:u1")
    await chat.pledge("jinkui", "donation", "100", "张三")  # a payment pledge
    await chat.pledge("diaoqiao", "afforestation", "5", "张三")  # a claim with a photo
    await chat.tap("fulfil:photo")
    await chat.send(photo=photo())
    await chat.say("/mydata")
    summary, download = chat.replies[0], chat.replies[1]
    assert "隐私告知：第 1 版" in summary.text and "年龄段：14–55 周岁" in summary.text
    assert "尽责承诺：2 条" in summary.text and "凭证照片：1 张" in summary.text
    assert download.attachment is not None and download.attachment.name == "mydata.json"
    data = json.loads(download.attachment.data)
    keys = await own_keys(runtime, user)
    assert len(keys) >= 5
    for key in keys:
        name = key.split("}:", 1)[1]
        assert name in data["kept"] or name.startswith(("seen:", "reply:", "lock")), name
    assert {"session", "pledges", "consent"} <= set(data["kept"])
    assert [p["name"] for p in data["kept"]["pledges"].values()] == ["张三", "张三"]
    assert data["claims"][0]["photo_kept"] is True and data["lists"]["subscribers"] is False
    consent = data["kept"]["consent"]["agreed_at"]  # kept in UTC, shown in Wuxi's time
    assert consent.endswith("+08:00") and consent[11:16] in summary.text
    assert re.search(r"同意于 \d{4}-\d\d-\d\d \d\d:\d\d \(UTC\+08:00\)", summary.text)
    assert data["generated"].endswith("+08:00")
    assert data["claims"][0]["created"].endswith("+08:00")
    stamps = re.findall(r'"(\d{4}-\d\d-\d\dT[^"]*)"', download.attachment.data.decode())
    assert stamps and all(s.endswith("+08:00") for s in stamps), stamps
    link = download.text.split("：", 1)[1].strip()
    assert link.startswith("https://trees.example.org/mydata/") and "?t=" in link
    app = create_app(runtime.settings, runtime)
    async with TestClient(TestServer(app)) as client:
        path = link.removeprefix("https://trees.example.org")
        got = await client.get(path)
        assert got.status == 200 and got.headers["Cache-Control"] == "private, no-store"
        assert (await got.json())["kept"]["consent"]["age"] == "adult"
        forged = path.replace("?t=", "?t=1") if "?t=" in path else path
        assert (await client.get(forged)).status == 404
        someone_else = runtime.mydata.link(UserKey("test:u2")).split("?")[0]
        stolen = someone_else.removeprefix("https://trees.example.org") + "?" + path.split("?")[1]
        assert (await client.get(stolen)).status == 404  # a token is for one user only
        old = runtime.mydata.link(user, now=datetime.now(UTC).timestamp() - 2 * 86400)
        assert (await client.get(old.removeprefix("https://trees.example.org"))).status == 404


async def test_forget_removes_consent_photos_and_grants_and_names_what_stays(
    chat: Chat, runtime: Runtime
) -> None:
    user = UserKey("test:u1")
    await chat.pledge("jinkui", "donation", "100", "张三")
    serial = await pay(runtime, str(user))
    await chat.pledge("diaoqiao", "afforestation", "5", "张三")
    await chat.tap("fulfil:photo")
    await chat.send(photo=photo())
    (claim,) = await runtime.claims.waiting()
    keys = runtime.store.keys
    await runtime.store.redis.hset(keys.grants(user), "reminder", "1")  # a WeChat grant
    await chat.say("/forget")
    await chat.tap("forget:yes")
    text = chat.text
    assert "已删除：2 条尽责记录、1 份凭证的照片" in text
    assert "付款记录" in text and "持有人已撤回" in text and "匿名统计" in text
    assert await runtime.consents.of(user) == Consent()
    assert await runtime.claims.photo(claim.id) is None  # the evidence photo is gone
    assert await runtime.claims.waiting() == []  # and nobody reviews a forgotten claim
    decided = await runtime.claims.get(claim.id)
    assert decided is not None and decided.user_key == "forgotten"
    assert not await runtime.store.redis.exists(keys.grants(user), keys.consent(user))
    assert await runtime.pledges.withdrawn(serial or "")  # the serial stays, withdrawn
    app = create_app(runtime.settings, runtime)
    async with TestClient(TestServer(app)) as client:
        page = await client.get(f"/verify/{serial}", headers={"Accept-Language": "zh-CN"})
        assert page.status == 410 and "持有人撤回" in await page.text()
        assert (await client.get("/verify/WX2026-FORGED-XX")).status == 404
    receipts = runtime.store.redis.scan_iter(match=f"{runtime.store.prefix}receipt:*")
    orders = [key async for key in receipts]  # every node's, on a cluster
    assert len(orders) == 1  # the payment record stays for accounting
    left = [k for k in await own_keys(runtime, user) if not k.endswith((":session", ":lock"))]
    assert [k for k in left if ":seen:" not in k and ":reply:" not in k] == []


async def old_pledge(runtime: Runtime, user: str, years_ago: float, name: str) -> Pledge:
    created = datetime.now(UTC) - timedelta(days=round(365.25 * years_ago))
    return await runtime.pledges.confirm(
        Pledge(
            id=serials.new_id(),
            user_key=UserKey(user),
            base="jinkui",
            form="afforestation",
            trees=5,
            amount_yuan=0,
            name=name,
            locale="zh",
            created=created.isoformat(timespec="seconds"),
        )
    )


async def test_retention_anonymises_old_pledges_once_a_day_and_counts_stay(
    runtime: Runtime,
) -> None:
    old = await old_pledge(runtime, "test:r1", 3.2, "王小二")
    recent = await old_pledge(runtime, "test:r1", 2.5, "王小二")
    gone = await old_pledge(runtime, "test:r2", 4, "李四")
    await runtime.pledges.fulfil(old.user_key, old.id, "admin:test", "photo approved", late=True)
    fulfilled = await runtime.pledges.get(old.user_key, old.id)
    assert fulfilled is not None and fulfilled.serial
    day = runtime.catalog.local(old.created).date().isoformat()
    counters = await runtime.store.pledges.day_stats(day)
    worker = Worker(runtime, Port({}, runtime.store.users))
    now = datetime.now(UTC)
    assert await worker.retention.due(now) == 2
    assert await worker.retention.due(now) == 0  # once a day
    other = Worker(runtime, Port({}, runtime.store.users), name="other")
    assert await other.retention.due(now) == 0  # and once across workers
    mine = await runtime.pledges.of_user(UserKey("test:r1"))
    assert [p.id for p in mine] == [recent.id]  # the recent one is untouched
    kept = await runtime.pledges.by_serial(fulfilled.serial)  # still verifiable
    assert kept is not None and kept.name == "王*二" and is_anonymous(kept.user_key)
    assert kept.user_key.channel == "test" and "r1" not in kept.user_key
    assert kept.status == PledgeStatus.FULFILLED and kept.history[-1].what == "anonymised"
    assert await runtime.store.pledges.owner(old.id) == kept.user_key
    assert await runtime.pledges.by_name("王小二") == []  # the name index forgot it
    assert await runtime.store.pledges.day_stats(day) == counters  # counters unchanged
    every = [p async for p in runtime.pledges.every()]
    assert sorted(p.id for p in every) == sorted([old.id, recent.id, gone.id])  # none lost
    audience = [u async for batch in runtime.store.users.pledgers("jinkui") for u in batch]
    assert audience == ["test:r1"]  # r2 has no pledge left there: out of the base's appeals


def test_a_user_pattern_escapes_glob_characters() -> None:
    pattern = Keys("tp:").user_pattern(UserKey("web:a*b?[c]"))
    assert pattern == "tp:{u:web:a\\*b\\?\\[c\\]}:*"


async def test_the_notice_names_the_configured_operator(settings: Settings, store: Store) -> None:
    runtime = await build_runtime(
        dataclasses.replace(settings, operator_name="无锡市林业站"), store, load_catalog()
    )
    reader = Chat(runtime.engine, user_id="p2", agrees=False)
    await reader.say("/privacy")
    assert "运营方：无锡市林业站" in reader.text and "/privacy?lang=zh" in reader.text
    app = create_app(runtime.settings, runtime)
    async with TestClient(TestServer(app)) as client:
        page = await client.get("/privacy?lang=en")
        assert page.status == 200 and "无锡市林业站" in await page.text()


async def test_consent_changes_merge_in_one_step_and_old_or_newer_records_are_respected(
    runtime: Runtime, store: Store
) -> None:
    key = store.keys.consent(USER)
    agreed = await runtime.consents.change(USER, consent_module.agreeing())
    aged = await runtime.consents.change(USER, consent_module.declaring(AgeGroup.YOUNG))
    assert aged == dataclasses.replace(agreed, age="young")
    assert json.loads(await store.redis.get(key)) == json.loads(aged.to_json())
    await store.redis.set(key, json.dumps({"notice": 1, "agreed_at": "2026-01-01T00:00:00+00:00"}))
    kept = await runtime.consents.change(
        USER, consent_module.declaring(AgeGroup.ADULT)
    )  # written before versions
    assert (kept.notice, kept.agreed_at, kept.age, kept.v) == (
        1,
        "2026-01-01T00:00:00+00:00",
        "adult",
        1,
    )
    assert json.loads(await store.redis.get(key))["v"] == 1
    newer = json.dumps({"notice": 1, "age": "adult", "v": 99})
    await store.redis.set(key, newer)
    with pytest.raises(StoreError, match="newer than this code"):
        await runtime.consents.change(USER, consent_module.guardian_agreeing())
    assert await store.redis.get(key) == newer  # left as it was


async def test_forget_leaves_no_trace_of_the_user_anywhere(runtime: Runtime) -> None:
    """A user who pledged, paid, sent a photo, booked and checked in, was reminded and told:
    after /forget no key, member, field or value in the store names them."""
    needle = "forgetme7Q2"
    chat = Chat(runtime.engine, user_id=needle, display_name="赵六")
    await chat.say("/team")  # they made a team, and joined another's the year before
    await chat.tap("team:create")
    await chat.say("赵家队")
    await chat.tap("base:any")
    await chat.say("10")
    past = await runtime.teams.create(UserKey("test:other"), "往年队", "", 5, 2025)
    assert not isinstance(past, str)
    assert await runtime.store.teams.join(past.code, UserKey(f"test:{needle}"), 2025, "x") is None
    await chat.pledge("jinkui", "donation", "100", "赵六")
    await pay(runtime, f"test:{needle}")
    await chat.pledge("diaoqiao", "afforestation", "5", "赵六")
    await chat.tap("fulfil:photo")
    await chat.send(photo=photo())
    slot = await add_slot(runtime, hours_ahead=10)
    other = await add_slot(runtime, hours_ahead=30)
    await chat.say("/book")
    await chat.tap("base:jinkui")
    await chat.book(slot.id)
    await chat.say("/book")
    await chat.tap("base:jinkui")
    await chat.book(other.id)
    code = (await runtime.bookings.slots.bookings(UserKey(f"test:{needle}")))[slot.id].code
    await runtime.bookings.check_in(code, slot.start)
    assert await traces(runtime.store, needle)  # the journey named them in many places
    await chat.say("/forget")
    await chat.tap("forget:yes")
    assert "已删除" in chat.text
    left = [t for t in await traces(runtime.store, needle) if not t.endswith((":lock",))]
    assert left == [], "\n".join(left)
    assert (await runtime.bookings.check_in(code, slot.start + 60)).status == "unknown"
    made = next(t for t in await runtime.teams.all() if t.name == "赵家队")
    assert str(made.organiser) == "forgotten"  # the team goes on without naming them
