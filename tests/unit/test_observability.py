"""Observability: JSON log lines carrying the request id of the request (the proxy's, or one
made up), also in a real `serve` process; the gauges read from Redis at each scrape (claims
waiting and the oldest's wait, the outbox and timed jobs, appeals, Redis's round trip) and the
payment counters; every metric the Grafana dashboard in deploy/ asks for is served."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import logs
from bot.config import Settings
from bot.model import UserKey
from bot.runtime import Runtime
from bot.store.broadcasts import Broadcast
from bot.web.app import create_app
from tests.kit.chat import Chat
from tests.kit.fulfil import photo
from tests.kit.paths import ROOT

DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the bot logs (INFO and up), as LOG_FORMAT=json writes it."""
    out = io.StringIO()
    handler = logs.handler(out, json_lines=True)
    root, bot = logging.getLogger(), logging.getLogger("bot")
    level = bot.level
    root.addHandler(handler)
    bot.setLevel(logging.INFO)
    yield out
    root.removeHandler(handler)
    bot.setLevel(level)


@pytest.fixture
async def client(settings: Settings, runtime: Runtime) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(settings, runtime))) as client:
        yield client


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_log_lines_are_json_with_the_request_id_of_their_request(
    client: TestClient[Any, Any], json_log: io.StringIO
) -> None:
    given = "4f1c0a9e2b7d4e11a3c5b6d7e8f90a1b"  # nginx's $request_id
    answer = await client.post("/pay/wechat/notify", data=b"{}", headers={"X-Request-Id": given})
    assert answer.status == 404 and answer.headers["X-Request-Id"] == given
    answer = await client.post("/pay/wechat/notify", data=b"{}", headers={"X-Request-Id": "a b{"})
    made = answer.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{16}", made)  # an odd header is not believed
    first, second = lines(json_log)[-2:]
    assert first["request_id"] == given and second["request_id"] == made
    assert first["level"] == "INFO" and "refused" in first["message"]
    assert first["logger"] == "bot.web.pay" and {"time", "process"} <= first.keys()
    answer = await client.get("/chat/nowhere")
    assert answer.status == 404 and re.fullmatch(r"[0-9a-f]{16}", answer.headers["X-Request-Id"])


def test_a_log_line_with_a_traceback_is_still_one_json_line(json_log: io.StringIO) -> None:
    token = logs.REQUEST_ID.set("job-1-0")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("bot.worker.outbox").exception("outbox entry failed")
    finally:
        logs.REQUEST_ID.reset(token)
    (line,) = lines(json_log)
    assert line["request_id"] == "job-1-0" and "ValueError: boom" in line["exc"]


async def scrape(client: TestClient[Any, Any]) -> str:
    answer = await client.get("/metrics")
    assert answer.status == 200
    return await answer.text()


def value(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert found is not None, name
    return float(found.group(1))


async def test_the_gauges_are_read_from_redis_at_each_scrape(
    client: TestClient[Any, Any], runtime: Runtime, chat: Chat
) -> None:
    text = await scrape(client)
    assert value(text, "bot_claims_waiting") == 0
    assert value(text, "bot_claims_oldest_wait_seconds") == 0
    await chat.pledge("jinkui", "in_kind", "200", "张三丰")
    (pledge,) = await runtime.claims.open_for(UserKey("test:u1"))
    await runtime.claims.submit(UserKey("test:u1"), pledge.id, photo())
    draft = Broadcast(id="", text_zh="植树节", text_en="", at=2_000_000_000)
    await runtime.store.users.subscribe(UserKey("telegram:42"))
    await runtime.appeals.create(draft, None)
    text = await scrape(client)
    assert value(text, "bot_claims_waiting") == 1
    assert value(text, "bot_claims_oldest_wait_seconds") >= 0
    assert value(text, 'bot_jobs_scheduled{kind="expire"}') == 1  # the pledge's deadline
    assert value(text, 'bot_appeals{status="scheduled"}') == 1
    assert value(text, "bot_appeal_recipients_left") == 1
    assert value(text, "bot_outbox_entries") >= 0
    assert value(text, "bot_redis_ping_seconds_count") >= 2


async def test_payment_notifications_are_counted_by_outcome(client: TestClient[Any, Any]) -> None:
    counter = 'bot_payment_notifications_total{outcome="unconfigured"}'
    scraped = await scrape(client)  # a process that has counted none yet has no such line
    before = value(scraped, counter) if f"{counter} " in scraped else 0.0
    await client.post("/pay/wechat/notify", data=b"{}")
    after = value(await scrape(client), counter)
    assert after == before + 1


async def test_every_metric_the_dashboard_asks_for_is_served(
    client: TestClient[Any, Any],
) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    asked = {m for e in exprs for m in re.findall(r"\b(bot_[a-z_]+)", e)}
    served = await scrape(client)
    for name in sorted(asked):
        assert re.search(rf"^# TYPE {name.removesuffix('_bucket')} ", served, re.M) or (
            re.search(rf"^# TYPE {name.removesuffix('_total')} counter", served, re.M)
        ), name
    assert len(dashboard["panels"]) >= 10
