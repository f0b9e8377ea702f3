"""Claims with evidence: a photo for an in-kind donation or one's own planting, the review queue
in the chat and at the terminal, approval issuing the certificate, rejection asking for another
photo, and everything a photo can be that it should not."""

from __future__ import annotations

import asyncio
import io
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from bot.channels.port import Port
from bot.cli import fulfilment as fulfilment_cli
from bot.config import Settings
from bot.errors import CommandError
from bot.model import UserKey
from bot.runtime import Runtime
from bot.services.audit import Actor
from bot.services.claims import Decision, photo_name
from bot.services.pledges import Pledge, PledgeStatus
from bot.store.blobs import DirectoryBlobs
from bot.store.claims import ClaimStatus
from bot.store.jobs import JobKind
from bot.web.app import create_app
from bot.worker.outbox import Worker
from tests.kit.chat import Chat
from tests.kit.fulfil import photo


@pytest.fixture
def admin(runtime: Runtime) -> Chat:
    return Chat(runtime.engine, user_id="boss", is_admin=True)


async def in_kind(chat: Chat) -> None:
    """Pledge goods worth 200 yuan (an in-kind donation, fulfilled by a claim)."""
    await chat.pledge("jinkui", "in_kind", "200", "张三丰")
    assert "发送一张捐赠物品或收据的照片" in chat.text


async def only_pledge(runtime: Runtime, user: str = "test:u1") -> Pledge:
    (pledge,) = await runtime.pledges.of_user(UserKey(user))
    return pledge


async def deliver(runtime: Runtime) -> None:
    """The worker, with no platform outlets: notices become notes for the next turn."""
    await Worker(runtime, Port({}, runtime.store.users)).run_once()


async def test_photo_review_approve_and_the_certificate_arrives(
    chat: Chat, admin: Chat, runtime: Runtime
) -> None:
    await in_kind(chat)
    await chat.send(text="三箱树苗和工具", photo=photo())
    assert "已收到无锡经开区金匮公园“捐物”承诺的照片凭证" in chat.text
    await chat.say("/mine")
    assert "等待工作人员审核" in chat.text
    await admin.say("/claims")
    review = admin.last
    assert "三箱树苗和工具" in review.text and "张*丰" in review.text
    assert review.image is not None and review.image[:2] == b"\xff\xd8"  # the photo, a JPEG
    approve = next(c for c in admin.choices if c.startswith("approve:"))
    await admin.tap(approve)
    assert "已通过" in admin.text and "没有等待审核" in admin.text
    pledge = await only_pledge(runtime)
    assert pledge.status == PledgeStatus.FULFILLED and pledge.serial
    assert pledge.history[-1].by == "admin:test:boss"
    await deliver(runtime)
    await chat.say("/help")
    assert "尽责承诺已完成" in chat.text and chat.certificate == pledge.serial


async def test_reject_then_another_photo_then_approve(
    chat: Chat, admin: Chat, runtime: Runtime
) -> None:
    await in_kind(chat)
    await chat.send(photo=photo(color="gray"))
    await admin.say("/claims")
    await admin.tap(next(c for c in admin.choices if c.startswith("reject:")))
    await admin.say("看不清物资")
    assert "已标记为不通过" in admin.text
    await deliver(runtime)
    await chat.say("/mine")
    assert (
        "未通过审核：看不清物资" in chat.text and "未通过：看不清物资。请再发一张照片" in chat.text
    )
    await chat.send(photo=photo(color="green"))
    assert "已收到" in chat.text
    (claim,) = await runtime.claims.waiting()
    said = await fulfilment_cli.decide(runtime, claim.id, True, "")
    assert "approved" in said
    pledge = await only_pledge(runtime)
    assert pledge.status == PledgeStatus.FULFILLED
    steps = [e.what for e in pledge.history]
    assert steps.count("claim_submitted") == 2 and steps.count("claim_rejected") == 1
    assert pledge.history[-1].by.startswith("cli:")


async def test_two_admins_at_once_one_wins_the_other_is_told(chat: Chat, runtime: Runtime) -> None:
    await in_kind(chat)
    await chat.send(photo=photo())
    (claim,) = await runtime.claims.waiting()
    first, second = await asyncio.gather(
        runtime.claims.decide(claim.id, True, Actor.chat_admin("a")),
        runtime.claims.decide(claim.id, False, Actor.chat_admin("b"), "不清楚"),
    )
    assert sorted([first, second]) == ["already", "done"]
    pledge = await only_pledge(runtime)
    decided = await runtime.claims.get(claim.id)
    assert decided is not None
    assert (pledge.status == PledgeStatus.FULFILLED) == (decided.status == ClaimStatus.APPROVED)
    with pytest.raises(CommandError, match="already"):
        await fulfilment_cli.decide(runtime, claim.id, True, "")
    assert [e.what for e in pledge.history].count("fulfilled") <= 1


async def test_decisions_are_one_rule_and_audited_whichever_door(
    chat: Chat, admin: Chat, runtime: Runtime
) -> None:
    """The chat, the command line and the console decide through Claims.decide: a rejection
    without a reason is refused there and changes nothing, and every decision made is in the
    audit log with who made it."""
    await in_kind(chat)
    await chat.send(photo=photo())
    (claim,) = await runtime.claims.waiting()
    refused = await runtime.claims.decide(claim.id, False, Actor.console("wang"), "  ")
    assert refused == Decision.NEEDS_REASON
    assert (await runtime.claims.get(claim.id)) == claim
    with pytest.raises(CommandError, match="reason"):
        await fulfilment_cli.decide(runtime, claim.id, False, "")
    assert await runtime.audit.entries() == []
    await fulfilment_cli.decide(runtime, claim.id, False, "看不清")
    await chat.send(photo=photo())
    await admin.say("/claims")
    await admin.tap(next(c for c in admin.choices if c.startswith("approve:")))
    actions = [(e["who"], e["what"]) for _, e in await runtime.audit.entries()]
    assert actions[0] == ("admin:test:boss", "claims.approve")
    assert actions[1][0].startswith("cli:") and actions[1][1] == "claims.reject"
    assert len(actions) == 2


async def test_an_admin_in_the_chat_is_told_when_another_was_first(
    chat: Chat, admin: Chat, runtime: Runtime
) -> None:
    await in_kind(chat)
    await chat.send(photo=photo())
    await admin.say("/claims")
    (claim,) = await runtime.claims.waiting()
    await runtime.claims.decide(claim.id, True, Actor.chat_admin("other"))
    await admin.tap(f"approve:{claim.id}")
    assert "已经由其他管理员处理" in admin.text
    assert [e.what for e in (await only_pledge(runtime)).history].count("fulfilled") == 1


async def test_what_a_photo_should_not_be(chat: Chat, runtime: Runtime) -> None:
    await chat.send(photo=photo())  # nothing waits for a photo yet
    assert "没有需要照片凭证的承诺" in chat.text
    await in_kind(chat)
    await chat.send(photo=b"%PDF-1.4 not a picture" * 100)
    assert "不像是一张照片" in chat.text
    await chat.send(photo=b"\xff\xd8\xff" + b"\x00" * (30 * 1024 * 1024))  # 30 MB
    assert "照片太大了" in chat.text
    assert await runtime.claims.waiting() == []
    assert (await only_pledge(runtime)).claim == ""


async def test_the_kept_photo_is_a_small_jpeg_without_exif(chat: Chat, runtime: Runtime) -> None:
    big = Image.new("RGB", (4000, 3000), "green")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # camera make
    out = io.BytesIO()
    big.save(out, format="PNG", exif=exif)
    await in_kind(chat)
    await chat.send(photo=out.getvalue())
    (claim,) = await runtime.claims.waiting()
    kept = await runtime.claims.photo(claim.id)
    assert kept is not None
    with Image.open(io.BytesIO(kept)) as image:
        assert image.format == "JPEG" and max(image.size) == 1600
        assert not image.getexif()


async def test_the_reviewers_photo_link_is_signed_and_the_photo_goes_after_90_days(
    chat: Chat, runtime: Runtime, settings: Settings, blobs: DirectoryBlobs
) -> None:
    await in_kind(chat)
    await chat.send(photo=photo())
    (claim,) = await runtime.claims.waiting()
    link = runtime.claims.photo_link(claim.id).removeprefix(settings.public_base_url)
    async with TestClient(TestServer(create_app(settings, runtime))) as client:
        shown = await client.get(link)
        assert shown.status == 200 and shown.content_type == "image/jpeg"
        assert (await client.get(link[:-4] + "AAAA")).status == 404
        assert (await client.get(f"/evidence/{claim.id}.jpg")).status == 404
    assert [name async for name in blobs.names("claims/")] == [photo_name(claim.id)]
    assert not await runtime.store.redis.exists(runtime.store.keys.claim(claim.id, "photo"))
    now = time.time()
    assert await runtime.claims.drop_old_photos(now + 400 * 86400) == 0  # kept while waiting
    await runtime.claims.decide(claim.id, False, Actor.chat_admin("x"), "模糊")
    assert await runtime.claims.drop_old_photos(now + 89 * 86400) == 0
    assert await runtime.claims.photo(claim.id) is not None
    assert await runtime.claims.drop_old_photos(now + 91 * 86400) == 1  # the day's retention
    assert await runtime.claims.photo(claim.id) is None
    assert [name async for name in blobs.names("claims/")] == []


async def test_a_claim_under_review_does_not_expire_and_a_rejection_gives_time_again(
    chat: Chat, runtime: Runtime
) -> None:
    await in_kind(chat)
    await chat.send(photo=photo())
    pledge = await only_pledge(runtime)
    overdue = int(time.time()) - 1
    await runtime.pledges.note(pledge.user_key, pledge.id, pledge.history[0], due=overdue)
    await runtime.store.jobs.schedule(JobKind.EXPIRE, f"{pledge.user_key}\n{pledge.id}", overdue)
    await deliver(runtime)
    assert (await only_pledge(runtime)).status == PledgeStatus.PLEDGED  # under review
    (claim,) = await runtime.claims.waiting()
    await runtime.claims.decide(claim.id, False, Actor.chat_admin("x"), "看不清")
    again = await only_pledge(runtime)
    assert again.status == PledgeStatus.PLEDGED and again.due > time.time() + 6 * 86400


async def test_an_unclaimed_pledge_expires_and_the_citizen_is_told(
    chat: Chat, runtime: Runtime
) -> None:
    await in_kind(chat)
    pledge = await only_pledge(runtime)
    overdue = int(time.time()) - 1
    await runtime.pledges.note(pledge.user_key, pledge.id, pledge.history[0], due=overdue)
    await runtime.store.jobs.schedule(JobKind.EXPIRE, f"{pledge.user_key}\n{pledge.id}", overdue)
    await deliver(runtime)
    expired = await only_pledge(runtime)
    assert expired.status == PledgeStatus.EXPIRED and expired.history[-1].by == "system"
    await deliver(runtime)
    await chat.say("/mine")
    assert "已过期" in chat.text
    await chat.send(photo=photo())  # too late now
    assert "没有需要照片凭证的承诺" in chat.text


async def test_planting_on_ones_own_is_claimed_with_a_photo(chat: Chat, runtime: Runtime) -> None:
    await chat.pledge("jinkui", "afforestation", "3", "张三丰")
    assert "fulfil:book" in chat.choices and "fulfil:photo" in chat.choices
    await chat.tap("fulfil:photo")
    assert "植树或养护的照片" in chat.text
    await chat.send(photo=photo())
    (claim,) = await runtime.claims.waiting()
    assert claim.form == "afforestation"


async def test_claims_at_the_terminal(chat: Chat, runtime: Runtime, settings: Settings) -> None:
    assert await fulfilment_cli.list_claims(runtime) == ["no claims waiting"]
    await in_kind(chat)
    await chat.send(text="收据在此", photo=photo())
    (line,) = await fulfilment_cli.list_claims(runtime)
    claim_id = line.split("\t")[0]
    assert "捐物" in line and "张*丰" in line and "waiting" in line
    shown = await fulfilment_cli.show_claim(runtime, claim_id)
    assert "note: 收据在此" in shown
    copy = next(s for s in shown if s.startswith("photo: ")).removeprefix("photo: ")
    assert copy.startswith(str(settings.data_dir)) and copy.endswith(".jpg")
    with pytest.raises(CommandError, match="reason"):
        await fulfilment_cli.decide(runtime, claim_id, False, " ")
    with pytest.raises(CommandError, match="no claim"):
        await fulfilment_cli.decide(runtime, "999999", True, "")
