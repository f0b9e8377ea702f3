"""`python -m bot doctor`: a deployment checked from the machine it runs on.

Each check gives findings (`findings.py`): the store (reachable, keeps data on disk, never
evicts), the data folder, where photos are kept (a file written, read and removed),
PUBLIC_BASE_URL (https, a public name, the bot answering its paths through the proxy), the
certificate's fonts, the platforms that are configured (Telegram, WeChat,
WeChat Pay: `handlers/checkup.py`) and the clock against Redis, the public address and WeChat
Pay. A check that cannot run is itself a finding; nothing is changed anywhere.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from bot.catalog import Catalog
from bot.config import Settings, demo_payments, internal_host
from bot.errors import StoreError
from bot.ops import checkup
from bot.ops.findings import Finding, Level, clock, fail, ok, reason, warn
from bot.render import fonts
from bot.runtime import blobs_of
from bot.services.pledges import nameless_certificates
from bot.store import Store
from bot.store.durability import judge

TIMEOUT_S = 10
PROBE = "doctor/probe.txt"  # the blob the photos' check writes and removes


async def examine(
    settings: Settings, store: Store, catalog: Catalog, session: aiohttp.ClientSession
) -> list[Finding]:
    """Every check that applies to these settings, in order; one that cannot run is a
    finding itself."""
    found = [*await _guarded("store", _store(settings, store)), *_data_dir(settings)]
    found += await _guarded("photos", photos(settings))
    found += [*_address(settings), *await _guarded("public address", _paths(settings, session))]
    found += [*_fonts(catalog), *_payments(settings)]
    found += await _guarded("certificates", _nameless(store))
    if settings.telegram_bot_token:
        found += await _guarded("telegram", checkup.telegram(settings))
    if settings.wechat_token or settings.wechat_app_id:
        found += await _guarded("wechat", checkup.wechat(settings, session))
    if settings.wechatpay_mchid:
        found += await _guarded("wechat pay", checkup.wechatpay(settings, session))
    return found


async def _guarded(topic: str, check: Awaitable[list[Finding]]) -> list[Finding]:
    try:
        return await check
    except Exception as exc:
        return [fail(topic, f"the check could not run ({reason(exc)})", "see the message")]


def healthy(found: list[Finding]) -> bool:
    """No finding says FAIL."""
    return all(f.level is not Level.FAIL for f in found)


def _channels(settings: Settings) -> bool:
    """Some platform must reach this deployment from outside."""
    return bool(settings.telegram_bot_token or settings.wechat_token or settings.wechatpay_mchid)


async def _store(settings: Settings, store: Store) -> list[Finding]:
    embedded = not (settings.redis_url or settings.redis_sentinels)
    where = "the embedded server" if embedded else _server(settings)
    if not await store.ping():
        fix = "check REDIS_URL (or REDIS_SENTINELS), that the server runs, and its password"
        return [fail("store", f"{where} does not answer", fix)]
    if embedded:
        found = [ok("store", "the embedded server: append-only file on, noeviction")]
    else:
        verdict = await judge(store.redis)
        found = [fail("store", p, "see deploy/redis.conf") for p in verdict.problems]
        found += [
            warn("store", w, "check the server's settings by hand") for w in verdict.warnings
        ]
        if not verdict.problems:
            found.append(ok("store", f"{where} keeps data on disk and never evicts"))
    seconds, micros = await store.redis.time()
    return [*found, clock("Redis", seconds + micros / 1e6, time.time())]


async def photos(settings: Settings) -> list[Finding]:
    """Where photos are kept takes a file, gives it back and lets it go."""
    where = f"the bucket {settings.blob_url}" if settings.blob_url else "BOT_DATA_DIR/blobs"
    probe = b"doctor"
    try:
        async with blobs_of(settings) as blobs:
            await blobs.put(PROBE, probe)
            back = await blobs.get(PROBE)
            await blobs.delete(PROBE)
    except (StoreError, OSError) as exc:
        fix = "check BLOB_URL, BLOB_ENDPOINT and the keys" if settings.blob_url else "see above"
        return [fail("photos", f"{where} cannot keep a file ({reason(exc)})", fix)]
    if back != probe:
        return [fail("photos", f"{where} gave back another file", "check the bucket's setup")]
    return [ok("photos", f"kept in {where}")]


def _server(settings: Settings) -> str:
    """Where REDIS_URL points, without its password."""
    if not settings.redis_url:
        return "the Sentinel master"
    parts = urlsplit(settings.redis_url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


def _data_dir(settings: Settings) -> list[Finding]:
    folder = settings.data_dir
    if not folder.exists() and os.access(_existing_parent(folder), os.W_OK):
        fix = "nothing: serve creates it (or create it now for the bot's user)"
        return [warn("data", f"BOT_DATA_DIR {folder} does not exist yet", fix)]
    if not (folder.is_dir() and os.access(folder, os.W_OK)):
        fix = "create it and give the bot's user write access (certificates, backups)"
        return [fail("data", f"BOT_DATA_DIR {folder} is not a writable folder", fix)]
    keep = settings.backup_keep
    said = f"{folder.resolve()}: writable; nightly backups " + (
        f"kept: {keep}" if keep else "off (BACKUP_KEEP=0)"
    )
    return [ok("data", said) if keep else warn("data", said, "set BACKUP_KEEP to keep some")]


def _existing_parent(path: Path) -> Path:
    """The nearest folder above `path` that exists."""
    return next(p for p in path.resolve().parents if p.exists())


def _address(settings: Settings) -> list[Finding]:
    base = settings.public_base_url
    parts = urlsplit(base)
    host = parts.hostname or ""
    problems = []
    if parts.scheme != "https":
        problems.append("is not https (Telegram, WeChat Pay and JS-SDK pages need TLS)")
    if internal_host(host, private=True):
        problems.append(f"names {host}, which no platform can reach")
    if not problems:
        return [ok("public address", f"{base}: https, a public name")]
    level = fail if _channels(settings) else warn
    fix = "set PUBLIC_BASE_URL to the https address the proxy serves (deploy/nginx.conf)"
    return [level("public address", f"PUBLIC_BASE_URL {base} {p}", fix) for p in problems]


async def _paths(settings: Settings, session: aiohttp.ClientSession) -> list[Finding]:
    """The bot answering at its public address: /healthz, and the paths the platforms call."""
    base, found = settings.public_base_url, []
    fix = "check DNS, the proxy's locations (deploy/nginx.conf), TLS, and that serve runs"
    try:
        async with session.get(f"{base}/healthz", timeout=_timeout()) as answer:
            if answer.status != 200:
                return [fail("public address", f"{base}/healthz answered {answer.status}", fix)]
            date = answer.headers.get("Date")
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return [fail("public address", f"{base}/healthz did not answer ({reason(exc)})", fix)]
    found.append(ok("public address", f"{base}/healthz answers"))
    if date:
        found.append(clock("the proxy", parsedate_to_datetime(date).timestamp(), time.time()))
    probes: list[tuple[str, str, tuple[int, ...], str]] = []
    if settings.telegram_webhook_secret:
        probes.append(("POST", "/telegram", (403,), "Telegram's webhook"))
    if settings.wechatpay_mchid:
        probes.append(("POST", "/pay/wechat/notify", (400, 401), "WeChat Pay's notifications"))
    for method, path, expected, who in probes:
        found.append(await _probe(session, method, base + path, expected, who))
    return found


async def _probe(
    session: aiohttp.ClientSession, method: str, url: str, expected: tuple[int, ...], who: str
) -> Finding:
    """An unsigned call to a path a platform calls: the bot refuses it (the path reaches the
    bot); anything else means the proxy does not pass it on."""
    fix = f"pass {urlsplit(url).path} on to the bot in the proxy (deploy/nginx.conf)"
    try:
        async with session.request(method, url, data=b"{}", timeout=_timeout()) as answer:
            status = answer.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return fail("public address", f"{url} did not answer ({reason(exc)})", fix)
    if status in expected:
        return ok("public address", f"{url} reaches the bot ({who})")
    return fail("public address", f"{url} answered {status}, not the bot's refusal", fix)


def _timeout() -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=TIMEOUT_S)


def _payments(settings: Settings) -> list[Finding]:
    """The demo pay page must never be on where people pay."""
    if demo_payments(settings):
        said = "demo payments are on: a pay page's one button fulfils a donation unpaid"
        fix = "set PUBLIC_BASE_URL to the public https address, and WECHATPAY_* or DONATION_URL"
        return [fail("payments", said, fix)]
    how = "WeChat Pay" if settings.wechatpay_mchid else "link-out with receipts"
    return [ok("payments", f"donations are paid by {how}; no demo")]


async def _nameless(store: Store) -> list[Finding]:
    """Certificates issued with no name on them: each to re-issue with its name."""
    found = await nameless_certificates(store.pledges)
    if not found:
        return [ok("certificates", "every certificate carries a name")]
    serials = ", ".join(p.serial or "" for p in found[:10])
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    said = f"{len(found)} certificates were issued without a name: {serials}{more}"
    fix = "re-issue each with its name at /admin/certificates?nameless=1 (the holder is told)"
    return [warn("certificates", said, fix)]


def _fonts(catalog: Catalog) -> list[Finding]:
    """The certificate's fonts load, and have every character of the catalogue's names."""
    try:
        for face in range(len(fonts.faces())):
            fonts.font(40, face)
    except OSError as exc:
        return [fail("fonts", f"a certificate font does not load ({exc})", "pip install -e .")]
    texts = [catalog.rules.issuer.zh, *(b.name.zh for b in catalog.bases)]
    missing = sorted({c for text in texts for c in text if fonts.face_for(c) is None})
    if missing:
        said = f"no font has {''.join(missing)}"
        return [fail("fonts", said, "add a font with these characters (assets/fonts)")]
    return [ok("fonts", f"{len(fonts.faces())} faces load; every base's name can be drawn")]
