"""`doctor` against real parts: a deployment with every setting right (the bot serving https
under a public name that resolves to 127.0.0.1 here, a Redis with its append-only file on, the
fake Telegram, WeChat and WeChat Pay) is all well; the same with every setting wrong names each
fault with its fix and changes nothing; the command's exit codes."""

from __future__ import annotations

import dataclasses
import datetime
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bot.catalog import load_catalog
from bot.channels.telegram.inbound import set_webhook
from bot.channels.wechat.inbound import create_menu
from bot.config import Settings
from bot.ops import doctor
from bot.ops.findings import Finding, Level
from bot.runtime import Runtime, build_runtime
from bot.store import Store, connect
from bot.web.app import create_app
from tests.conftest import SECRET
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wechat import APP_ID, APP_SECRET, TOKEN, FakeWeChat
from tests.fakes.wechatpay import FakeWeChatPay
from tests.kit.chat import Chat
from tests.kit.fulfil import issued_without_a_name
from tests.kit.processes import cli
from tests.kit.servers import free_port, valkey

NAME = "trees.example.org"


class Pinned(AbstractResolver):
    """NAME is this machine; other names as usual (the tests reach only 127.0.0.1)."""

    def __init__(self) -> None:
        self.usual = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> Any:
        if host != NAME:
            return await self.usual.resolve(host, port, family)
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        await self.usual.close()


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for NAME and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@dataclasses.dataclass
class Deployment:
    settings: Settings
    store: Store
    session: aiohttp.ClientSession
    telegram: FakeTelegram
    wechat: FakeWeChat
    wechatpay: FakeWeChatPay

    async def examine(self, settings: Settings | None = None) -> list[Finding]:
        return await doctor.examine(
            settings or self.settings, self.store, load_catalog(), self.session
        )


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    """The bot serving https at NAME (here 127.0.0.1) over a Redis that keeps its data, with
    the three platforms' fakes, set up as the README says."""
    cert, key = certificate(tmp_path)
    port = free_port()
    with valkey(tmp_path, "--appendonly", "yes") as (_, url):
        async with FakeTelegram() as telegram, FakeWeChat() as wechat, FakeWeChatPay() as pay:
            settings = Settings(
                redis_url=url,
                data_dir=tmp_path / "data",
                bot_secret=SECRET,
                public_base_url=f"https://{NAME}:{port}",
                telegram_bot_token="42:doctor",  # noqa: S106 - a test value
                telegram_api_base_url=telegram.url,
                telegram_webhook_secret="hook-secret",  # noqa: S106 - a test value
                wechat_token=TOKEN,
                wechat_app_id=APP_ID,
                wechat_app_secret=APP_SECRET,
                wechat_api_base_url=wechat.url,
            )
            settings = pay.configure(settings, tmp_path)
            settings.data_dir.mkdir()  # as the deploy guide's steps leave it
            store = Store(connect(url), "doc:", url)
            runtime = await build_runtime(settings, store, load_catalog())
            runner = web.AppRunner(create_app(settings, runtime))
            await runner.setup()
            served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            served.load_cert_chain(cert, key)
            await web.TCPSite(runner, "127.0.0.1", port, ssl_context=served).start()
            trusted = ssl.create_default_context(cafile=str(cert))
            connector = aiohttp.TCPConnector(resolver=Pinned(), ssl=trusted)
            try:
                async with aiohttp.ClientSession(connector=connector) as session:
                    await set_webhook(settings, f"{settings.public_base_url}/telegram")
                    await create_menu(settings, url)
                    yield Deployment(settings, store, session, telegram, wechat, pay)
            finally:
                await runner.cleanup()
                await store.close()


def said(found: list[Finding], level: Level) -> list[str]:
    return [f"{f.topic}: {f.said}" for f in found if f.level is level]


async def test_a_deployment_set_up_as_the_readme_says_is_all_well(
    deployment: Deployment,
) -> None:
    found = await deployment.examine()
    assert said(found, Level.FAIL) == [] and said(found, Level.WARN) == []
    assert doctor.healthy(found)
    topics = {f.topic for f in found}
    assert topics == {
        "store",
        "data",
        "photos",
        "public address",
        "fonts",
        "telegram",
        "wechat",
        "wechat pay",
        "payments",
        "certificates",
        "clock",
    }
    oks = "\n".join(said(found, Level.OK))
    assert "keeps data on disk and never evicts" in oks
    assert "every certificate carries a name" in oks
    assert f"https://{NAME}" in oks and "/telegram reaches the bot" in oks
    assert "/pay/wechat/notify reaches the bot" in oks
    assert "passes WeChat's server check" in oks and "custom menu is there" in oks
    assert "answers verify under PUB_KEY_ID_" in oks and "the token is @" in oks


async def test_every_setting_wrong_is_named_with_its_fix_and_nothing_changes(
    deployment: Deployment, tmp_path: Path
) -> None:
    deployment.telegram.refused_tokens.add("42:doctor")
    deployment.wechat.refuse_ip = True
    deployment.wechat.forget()
    calls_before = len(deployment.telegram.calls)
    (tmp_path / "volatile").mkdir()
    with valkey(tmp_path / "volatile") as (_, url):  # a Redis that keeps nothing, as asked
        volatile = Store(connect(url), "doc-volatile:", url)
        wrong = dataclasses.replace(deployment.settings, redis_url=url)
        found = await _examined_wrong(deployment, wrong, volatile)
    failed = "\n".join(said(found, Level.FAIL))
    assert not doctor.healthy(found)
    for expected in (
        "persistence is off",
        "is not https",
        "names 127.0.0.1",
        "http://127.0.0.1:9/healthz did not answer",
        "TELEGRAM_BOT_TOKEN is refused",
        "http://127.0.0.1:9/wechat does not answer",
        "not on the account's IP allow-list",
        "the notify URL http://127.0.0.1:9/pay/wechat/notify is not https",
        "WECHATPAY_PUBLIC_KEY_ID is 'PUB_KEY_ID_0000",
    ):
        assert expected in failed, expected
    assert all(f.fix for f in found if f.level is Level.FAIL)
    assert [c.method for c in deployment.telegram.calls[calls_before:]] == ["getMe"]
    assert [c.path for c in deployment.wechat.calls] == ["stable_token"]  # no token voided


async def _examined_wrong(
    deployment: Deployment, settings: Settings, volatile: Store
) -> list[Finding]:
    """Doctor's findings for a deployment with every setting wrong; it makes no secret."""
    wrong = dataclasses.replace(
        settings,
        public_base_url="http://127.0.0.1:9",
        wechatpay_public_key_id="PUB_KEY_ID_0000000000000000000000000000000",
        wechat_token="not-the-token",  # noqa: S106 - a test value
    )
    try:
        found = await doctor.examine(wrong, volatile, load_catalog(), deployment.session)
        assert await volatile.redis.keys("doc-volatile:*") == []  # no secret made
    finally:
        await volatile.close()
    return found


async def test_a_webhook_elsewhere_a_missing_menu_and_a_wrong_key_are_named(
    deployment: Deployment, tmp_path: Path
) -> None:
    await set_webhook(deployment.settings, "https://elsewhere.example.org/telegram")
    deployment.telegram.webhook_error = "Connection refused"
    deployment.wechat.menu = None
    wrong_key = tmp_path / "someone_elses_key.pem"  # a public key, but not WeChat Pay's
    someone = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    wrong_key.write_bytes(
        someone.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    settings = dataclasses.replace(deployment.settings, wechatpay_public_key=wrong_key)
    failed = "\n".join(said(await deployment.examine(settings), Level.FAIL))
    assert "the webhook is https://elsewhere.example.org/telegram, not https://" in failed
    assert "the account has no custom menu" in failed
    assert "WECHATPAY_PUBLIC_KEY does not verify" in failed
    warned = "\n".join(said(await deployment.examine(settings), Level.WARN))
    assert "Connection refused" in warned
    deployment.telegram.webhook_error = "Wrong response from the webhook: 403 Forbidden"
    failed = "\n".join(said(await deployment.examine(settings), Level.FAIL))
    assert "403 Forbidden" in failed  # deliveries refused: the secret Telegram has is not ours


def test_the_command_exits_1_and_names_the_fixes(cli_env: dict[str, str], tmp_path: Path) -> None:
    done = cli("doctor", env=cli_env | {"PUBLIC_BASE_URL": "http://127.0.0.1:9"})
    assert done.returncode == 1, done.stderr
    assert "[FAIL] public address" in done.stdout and "fix: " in done.stdout
    assert "[ok  ] fonts" in done.stdout and "some checks failed" in done.stderr


async def test_redis_down_is_a_finding_and_its_password_is_not_printed(
    tmp_path: Path,
) -> None:
    port = free_port()  # nothing listens: Redis "down"
    settings = Settings(
        redis_url=f"redis://:hunter2-secret@127.0.0.1:{port}/0",
        data_dir=tmp_path,
        redis_timeout=0.5,
    )
    store = Store(connect(settings.redis_url or "", timeout=0.5), "doc-down:", "")
    try:
        async with aiohttp.ClientSession() as session:
            found = await doctor.examine(settings, store, load_catalog(), session)
    finally:
        await store.close()
    printed = "\n".join(line for f in found for line in f.lines())
    assert f"[FAIL] store: redis://127.0.0.1:{port} does not answer" in printed
    assert "hunter2" not in printed


async def test_a_deployment_with_the_demo_pay_page_on_fails(
    settings: Settings, store: Store
) -> None:
    """Nothing configured and a loopback address: the demo pay page would fulfil donations
    unpaid, which doctor names as a failure with its fix."""
    newcomer = dataclasses.replace(settings, public_base_url="http://127.0.0.1:9")
    async with aiohttp.ClientSession() as session:
        found = await doctor.examine(newcomer, store, load_catalog(), session)
    (demo,) = [f for f in found if f.topic == "payments"]
    assert demo.level is Level.FAIL and "demo payments are on" in demo.said and demo.fix
    real = dataclasses.replace(newcomer, donation_url="https://donate.example.org")
    async with aiohttp.ClientSession() as session:
        found = await doctor.examine(real, store, load_catalog(), session)
    (paid,) = [f for f in found if f.topic == "payments"]
    assert paid.level is Level.OK


async def test_certificates_issued_without_a_name_are_named_with_the_fix(
    settings: Settings, runtime: Runtime
) -> None:
    chat = Chat(runtime.engine, user_id="visitor")
    await chat.pledge("jinkui", "donation", "60", "王五")
    serial = await issued_without_a_name(runtime, "test:visitor")
    real = dataclasses.replace(settings, donation_url="https://donate.example.org")
    async with aiohttp.ClientSession() as session:
        found = await doctor.examine(real, runtime.store, load_catalog(), session)
    (nameless,) = [f for f in found if f.topic == "certificates"]
    assert nameless.level is Level.WARN and serial in nameless.said
    assert "/admin/certificates?nameless=1" in nameless.fix
