"""The open books: the city's figures (/open, JSON, CSV) and a page per base, from the daily
counters only: what a pledge, a payment and a check-in add, and nothing that names a person."""

from __future__ import annotations

import csv
import io
import time

from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.model import UserKey
from bot.runtime import Runtime
from bot.services.audit import Actor
from bot.services.openbooks import OpenBooks
from bot.web.app import create_app
from tests.kit.chat import Chat
from tests.kit.fulfil import pay, photo
from tests.kit.slots import add_slot

NAME = "张三丰"


async def activity(runtime: Runtime) -> None:
    """A donation paid, a pledge left waiting, a volunteer checked in at Jinkui."""
    donor = Chat(runtime.engine, user_id="o1")
    await donor.pledge("jinkui", "donation", "100", NAME)
    assert await pay(runtime, "test:o1")
    await Chat(runtime.engine, user_id="o2").pledge("guzhuang", "donation", "60", "李四")
    slot = await add_slot(runtime, hours_ahead=0.5, length_h=3)
    volunteer = Chat(runtime.engine, user_id="o3")
    await volunteer.say("/book")
    await volunteer.say("金匮")
    await volunteer.book(slot.id, "王五")
    booking = await runtime.bookings.slots.booking(UserKey("test:o3"), slot.id)
    assert booking is not None
    checked = await runtime.bookings.check_in(booking.code, int(time.time()))
    assert checked.pledge is not None


async def test_the_city_figures_as_a_page_json_and_csv(
    runtime: Runtime, settings: Settings
) -> None:
    await activity(runtime)
    year = runtime.catalog.local_minute(int(time.time()))[:4]
    async with TestClient(TestServer(create_app(settings, runtime))) as client:
        data = await (await client.get("/open/figures.json")).json()
        assert data["year"] == int(year)
        total = data["total"]
        assert total["pledges"] == 3 and total["yuan"] == 100 and total["trees"] >= 5 + 1
        assert total["planted"] == total["trees"] - 5 and total["trees_pledged"] >= 5 + 3
        jinkui = next(b for b in data["bases"] if b["id"] == "jinkui")
        assert jinkui["name"] == "无锡经开区金匮公园" and jinkui["yuan"] == 100
        assert sum(m["pledges"] for m in data["months"]) == 3
        english = await (await client.get("/open/figures.json?lang=en")).json()
        assert next(b for b in english["bases"] if b["id"] == "jinkui")["name"].startswith(
            "Jinkui"
        )
        got = await client.get("/open/figures.csv")
        assert got.content_type == "text/csv" and "max-age=60" in got.headers["Cache-Control"]
        rows = list(csv.reader(io.StringIO((await got.read()).decode("utf-8-sig"))))
        assert rows[0][:4] == ["year", "scope", "id", "name"]
        assert rows[-1][:3] == [year, "year", year] and rows[-1][4] == "3"
        page = await (await client.get("/open")).text()
        assert "公开账本" in page and "无锡经开区金匮公园" in page and "<svg" in page
        assert (await client.get("/open?year=1999")).status == 200  # a bad year: this year
        for body in (page, str(data), str(rows)):
            assert NAME not in body and "test:o1" not in body  # nobody is named


async def test_a_bases_open_page(runtime: Runtime, settings: Settings) -> None:
    await activity(runtime)
    later = await add_slot(runtime, hours_ahead=30, capacity=12, task="补植")
    async with TestClient(TestServer(create_app(settings, runtime))) as client:
        got = await client.get("/bases/jinkui")
        page = await got.text()
        assert got.status == 200 and "无锡经开区金匮公园" in page and "/map/jinkui" in page
        assert "补植" in page and "剩余 12 个名额" in page and NAME not in page
        assert later.id  # the coming slot is listed with its places left
        assert (await client.get("/bases/nowhere")).status == 404
        english = await (await client.get("/bases/jinkui?lang=en")).text()
        assert "12 places left" in english and "Trees fulfilled" in english


async def test_a_year_is_counted_once_a_minute_whatever_the_traffic(runtime: Runtime) -> None:
    books = OpenBooks(runtime.store, runtime.catalog)
    year = books.today().year
    first = await books.year(year)
    await Chat(runtime.engine, user_id="o4").pledge("jinkui", "donation", "60", "赵六")
    assert await books.year(year) is first  # kept: the counters are not read again
    fresh = OpenBooks(runtime.store, runtime.catalog, keep_s=0)
    assert (await fresh.year(year)).total.pledges == first.total.pledges + 1


async def test_a_bases_page_shows_approved_photos_only_where_their_citizens_agreed(
    runtime: Runtime, settings: Settings
) -> None:
    ids = {}
    for user, answer in (("p1", "public:yes"), ("p2", "public:no"), ("p3", "public:yes")):
        chat = Chat(runtime.engine, user_id=user)
        await chat.pledge("jinkui", "in_kind", "200", "张三")
        await chat.send(photo=photo())
        assert "基地的公开页面" in chat.text and "public:no" in chat.choices  # asked, no default
        await chat.tap(answer)
        (claim,) = [c for c in await runtime.claims.waiting() if c.user_key == f"test:{user}"]
        ids[user] = claim.id
    for user in ("p1", "p2"):  # p3's claim still waits for review
        await runtime.claims.decide(ids[user], True, Actor.chat_admin("x"))
    async with TestClient(TestServer(create_app(settings, runtime))) as client:
        page = await (await client.get("/bases/jinkui")).text()
        assert f"/bases/jinkui/photos/{ids['p1']}.jpg" in page
        assert f"/photos/{ids['p2']}.jpg" not in page and f"/photos/{ids['p3']}.jpg" not in page
        shown = await client.get(f"/bases/jinkui/photos/{ids['p1']}.jpg")
        assert shown.status == 200 and shown.content_type == "image/jpeg"
        for hidden in (
            f"/bases/jinkui/photos/{ids['p2']}.jpg",
            f"/bases/diaoqiao/photos/{ids['p1']}.jpg",
        ):
            assert (await client.get(hidden)).status == 404
    assert await runtime.claims.drop_old_photos(time.time() + 400 * 86400) == 2
    assert await runtime.claims.shown("jinkui") == []  # gone with the photo
