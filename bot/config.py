"""Settings from the environment (and a `.env` file), validated once at start-up.

Each setting is declared once, on its field: the variable it is read from, how its text is
read (a parser that names the variable when the value is wrong) and a line of help. The loader
is a loop over the declarations; what depends on several settings is checked after it.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from bot.errors import ConfigError
from bot.model import immutable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Parser = Callable[[str, str], Any]  # (variable, text) -> value, or ConfigError naming it
TEMPLATE_PREFIX = "WECHAT_TEMPLATE_"
WECHATPAY_API = "https://api.mch.weixin.qq.com"


@immutable
class Variable:
    """Where a setting comes from: its environment variable, parser and help."""

    name: str
    parse: Parser
    help: str


def setting(name: str, parse: Parser, default: Any, about: str, secret: bool = False) -> Any:
    """A field of Settings read from the variable `name`."""
    return field(default=default, repr=not secret, metadata={"env": Variable(name, parse, about)})


# -- parsers: (variable, text) -> value ---------------------------------------------------------


def text(name: str, raw: str) -> str:
    """Any text."""
    return raw


def tcp_port(name: str, raw: str) -> int:
    """A TCP port."""
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{name} must be a number from 1 to 65535, got {raw!r}")
    return int(raw)


def http_url(name: str, raw: str) -> str:
    """An http(s) address, without a trailing slash."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{name} must be an http(s) URL such as https://example.org, got {raw!r}"
        )
    return raw.rstrip("/")


def blob_address(name: str, raw: str) -> str:
    """An S3 bucket and prefix: s3://bucket/prefix."""
    parts = urlsplit(raw)
    if parts.scheme != "s3" or not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", parts.netloc):
        raise ConfigError(f"{name} must be s3://bucket/prefix (a bucket's name), got {raw!r}")
    return raw


def redis_address(name: str, raw: str) -> str:
    """A Redis URL."""
    if urlsplit(raw).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"{name} must start with redis://, rediss:// or unix://, got {raw!r}")
    return raw


def flag(name: str, raw: str) -> bool:
    """1 or 0 (true/false, yes/no)."""
    if raw.lower() not in ("0", "1", "true", "false", "yes", "no"):
        raise ConfigError(f"{name} must be 1 or 0, got {raw!r}")
    return raw.lower() in ("1", "true", "yes")


def _number(name: str, raw: str, low: float, high: float, what: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan  # fails every comparison below
    if not low <= value <= high:
        raise ConfigError(f"{name} must be {what}, got {raw!r}")
    return value


def rate(name: str, raw: str) -> float:
    """Messages per second."""
    return _number(name, raw, 1e-6, math.inf, "a positive number of messages per second")


def seconds(name: str, raw: str) -> float:
    """A short wait."""
    return _number(name, raw, 0.1, 60, "a number of seconds from 0.1 to 60")


def whole(high: int) -> Parser:
    """A whole number from 0 to `high`."""

    def parse(name: str, raw: str) -> int:
        if not raw.isdigit() or int(raw) > high:
            raise ConfigError(f"{name} must be a whole number from 0 to {high}, got {raw!r}")
        return int(raw)

    return parse


def exactly(length: int, what: str) -> Parser:
    """A text of a fixed length (a key as a platform shows it)."""

    def parse(name: str, raw: str) -> str:
        if len(raw) != length:
            raise ConfigError(f"{name} must be {what}")
        return raw

    return parse


def prefix(name: str, raw: str) -> str:
    """A key prefix: no braces (hash tags) or spaces."""
    if any(c in raw for c in "{} \t\n"):
        raise ConfigError(f"{name} must not contain braces or spaces, got {raw!r}")
    return raw


def file_path(name: str, raw: str) -> Path:
    """A file or folder."""
    return Path(raw)


def log_format(name: str, raw: str) -> bool:
    """text or json: whether log lines are JSON."""
    if raw.lower() not in ("text", "json"):
        raise ConfigError(f"{name} must be text or json, got {raw!r}")
    return raw.lower() == "json"


def long_secret(name: str, raw: str) -> str:
    """A key of at least 16 characters."""
    if len(raw) < 16:
        raise ConfigError(f"{name} must be at least 16 characters long")
    return raw


def networks(name: str, raw: str) -> tuple[Network, ...]:
    """Addresses or networks, comma-separated."""
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in _items(raw))
    except ValueError as exc:
        raise ConfigError(
            f"{name} must be comma-separated addresses or networks (10.0.0.1, 10.0.0.0/8): {exc}"
        ) from None


def addresses(name: str, raw: str) -> tuple[tuple[str, int], ...]:
    """host:port, host:port..."""
    found = []
    for item in _items(raw):
        host, _, port_text = item.rpartition(":")
        if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"{name} must be host:port, host:port..., got {item!r}")
        found.append((host.strip("[]"), int(port_text)))
    return tuple(found)


def numeric_ids(name: str, raw: str) -> frozenset[int]:
    """Comma-separated numeric user ids."""
    items = _items(raw)
    bad = [item for item in items if not item.lstrip("-").isdigit()]
    if bad:
        raise ConfigError(f"{name} must be comma-separated numeric user ids, got {bad[0]!r}")
    return frozenset(int(item) for item in items)


def ids(name: str, raw: str) -> frozenset[str]:
    """Comma-separated ids."""
    return frozenset(_items(raw))


def _items(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


# -- the settings -------------------------------------------------------------------------------


@immutable
class Settings:
    """Everything the bot reads from its environment; see README's configuration table."""

    host: str = setting("HOST", text, "127.0.0.1", "the address serve listens on")
    port: int = setting("PORT", tcp_port, 8080, "the port serve listens on")
    public_base_url: str = setting(
        "PUBLIC_BASE_URL",
        http_url,
        "http://127.0.0.1:8080",
        "the address people reach (QR codes, links); default http://HOST:PORT",
    )
    trusted_proxies: tuple[Network, ...] = setting(
        "TRUSTED_PROXIES", networks, (), "proxies whose X-Forwarded-For is believed"
    )
    redis_url: str | None = setting(
        "REDIS_URL", redis_address, None, "the Redis to use; unset: the embedded server"
    )
    redis_cluster: bool = setting(
        "REDIS_CLUSTER", flag, False, "1: REDIS_URL is one node of a Redis Cluster"
    )
    redis_sentinels: tuple[tuple[str, int], ...] = setting(
        "REDIS_SENTINELS", addresses, (), "host:port, ... of Redis Sentinels"
    )
    redis_sentinel_master: str = setting(
        "REDIS_SENTINEL_MASTER", text, "mymaster", "the master the Sentinels watch"
    )
    allow_volatile_redis: bool = setting(
        "ALLOW_VOLATILE_REDIS", flag, False, "1: start on a Redis that may lose data (tests)"
    )
    redis_timeout: float = setting(
        "REDIS_TIMEOUT", seconds, 2.0, "seconds to connect to Redis and wait for an answer"
    )
    key_prefix: str = setting("REDIS_KEY_PREFIX", prefix, "tp:", "the prefix of every key")
    data_dir: Path = setting(
        "BOT_DATA_DIR", file_path, Path("var"), "embedded Redis data, certificate images, backups"
    )
    log_json: bool = setting("LOG_FORMAT", log_format, False, "text or json log lines")
    backup_keep: int = setting(
        "BACKUP_KEEP", whole(1000), 7, "nightly backups kept in BOT_DATA_DIR/backups (0: none)"
    )
    backup_hour: int = setting(
        "BACKUP_HOUR", whole(23), 3, "the hour (Asia/Shanghai) the nightly backup is due"
    )
    blob_url: str | None = setting(
        "BLOB_URL", blob_address, None, "s3://bucket/prefix for photos (unset: BOT_DATA_DIR/blobs)"
    )
    blob_endpoint: str | None = setting(
        "BLOB_ENDPOINT", http_url, None, "the S3 endpoint (OSS, COS, MinIO); unset: AWS"
    )
    blob_region: str = setting("BLOB_REGION", text, "us-east-1", "the bucket's S3 region")
    blob_access_key_id: str | None = setting(
        "BLOB_ACCESS_KEY_ID", text, None, "the S3 access key's id", secret=True
    )
    blob_secret_access_key: str | None = setting(
        "BLOB_SECRET_ACCESS_KEY", text, None, "the S3 secret key", secret=True
    )
    audit_keep_days: int = setting(
        "AUDIT_KEEP_DAYS", whole(36500), 365, "days the audit log keeps (trimmed as it grows)"
    )
    bot_secret: str | None = setting(
        "BOT_SECRET", long_secret, None, "signs serials, cookies and links", secret=True
    )
    telegram_bot_token: str | None = setting(
        "TELEGRAM_BOT_TOKEN", text, None, "the Telegram bot's token", secret=True
    )
    telegram_api_base_url: str | None = setting(
        "TELEGRAM_API_BASE_URL", http_url, None, "the Bot API's base (a relay)"
    )
    telegram_webhook_secret: str | None = setting(
        "TELEGRAM_WEBHOOK_SECRET", text, None, "webhook secret; unset: long polling", secret=True
    )
    telegram_admin_ids: frozenset[int] = setting(
        "TELEGRAM_ADMIN_IDS", numeric_ids, frozenset(), "Telegram user ids of admins"
    )
    telegram_rate_limit: float = setting(
        "TELEGRAM_RATE_LIMIT", rate, 30.0, "messages a second to Telegram, all processes"
    )
    telegram_chat_rate: float = setting(
        "TELEGRAM_CHAT_RATE", rate, 1.0, "messages a second to one Telegram chat"
    )
    broadcast_rate: float = setting(
        "BROADCAST_RATE", rate, 25.0, "appeal messages a second per channel"
    )
    wechat_token: str | None = setting(
        "WECHAT_TOKEN", text, None, "the Official Account's callback token", secret=True
    )
    wechat_app_id: str | None = setting("WECHAT_APP_ID", text, None, "the Official Account")
    wechat_app_secret: str | None = setting(
        "WECHAT_APP_SECRET", text, None, "its app secret", secret=True
    )
    wechat_encoding_aes_key: str | None = setting(
        "WECHAT_ENCODING_AES_KEY",
        exactly(43, "the 43 characters WeChat shows"),
        None,
        "safe mode's key",
        secret=True,
    )
    wechat_api_base_url: str | None = setting(
        "WECHAT_API_BASE_URL", http_url, None, "WeChat's API host"
    )
    wechat_admin_openids: frozenset[str] = setting(
        "WECHAT_ADMIN_OPENIDS", ids, frozenset(), "openids of admins"
    )
    admin_password: str | None = setting(
        "ADMIN_PASSWORD", text, None, "the first console account's password", secret=True
    )
    wechatpay_mchid: str | None = setting(
        "WECHATPAY_MCHID", text, None, "the merchant account: turns WeChat Pay on"
    )
    wechatpay_appid: str | None = setting(
        "WECHATPAY_APPID", text, None, "the app the merchant is bound to (WECHAT_APP_ID)"
    )
    wechatpay_api_v3_key: str | None = setting(
        "WECHATPAY_API_V3_KEY",
        exactly(32, "the 32 characters set in the merchant platform"),
        None,
        "the API v3 key",
        secret=True,
    )
    wechatpay_private_key: Path | None = setting(
        "WECHATPAY_PRIVATE_KEY", file_path, None, "the merchant's private key (PEM file)"
    )
    wechatpay_cert_serial: str | None = setting(
        "WECHATPAY_CERT_SERIAL", text, None, "the merchant certificate's serial"
    )
    wechatpay_public_key: Path | None = setting(
        "WECHATPAY_PUBLIC_KEY", file_path, None, "WeChat Pay's public key (PEM file)"
    )
    wechatpay_public_key_id: str | None = setting("WECHATPAY_PUBLIC_KEY_ID", text, None, "its id")
    wechatpay_api_base_url: str = setting(
        "WECHATPAY_API_BASE_URL", http_url, WECHATPAY_API, "WeChat Pay's API"
    )
    donation_url: str | None = setting(
        "DONATION_URL", http_url, None, "the official donation page (link-out mode)"
    )
    operator_name: str | None = setting(
        "OPERATOR_NAME", text, None, "who runs the service, named in the privacy notice"
    )
    wechat_templates: tuple[tuple[str, str], ...] = ()  # (kind, template id): WECHAT_TEMPLATE_*


def variables() -> list[tuple[str, Variable]]:
    """Each setting's field name and variable, in declaration order."""
    return [(f.name, f.metadata["env"]) for f in fields(Settings) if "env" in f.metadata]


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> Settings:
    """Read settings from `environ` (default os.environ) over `env_file`; raise ConfigError."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    env = {k: v.strip() for k, v in values.items() if v.strip()}
    read = {
        name: variable.parse(variable.name, env[variable.name])
        for name, variable in variables()
        if variable.name in env
    }
    read.setdefault(
        "public_base_url", f"http://{read.get('host', '127.0.0.1')}:{read.get('port', 8080)}"
    )
    read["wechat_templates"] = tuple(
        sorted(
            (name.removeprefix(TEMPLATE_PREFIX).lower(), value)
            for name, value in env.items()
            if name.startswith(TEMPLATE_PREFIX)
        )
    )
    settings = Settings(**_wechatpay(read))
    if settings.redis_cluster and not settings.redis_url:
        raise ConfigError("REDIS_CLUSTER=1 needs REDIS_URL, the address of one of its nodes")
    return settings


_WECHATPAY_REQUIRED = (
    ("wechatpay_api_v3_key", "WECHATPAY_API_V3_KEY"),
    ("wechatpay_private_key", "WECHATPAY_PRIVATE_KEY"),
    ("wechatpay_cert_serial", "WECHATPAY_CERT_SERIAL"),
    ("wechatpay_public_key", "WECHATPAY_PUBLIC_KEY"),
    ("wechatpay_public_key_id", "WECHATPAY_PUBLIC_KEY_ID"),
)


def _wechatpay(read: dict[str, Any]) -> dict[str, Any]:
    """The merchant account, all or nothing: WECHATPAY_MCHID turns WeChat Pay on and then every
    key it needs must be given (the files are read when the gateway opens); without it the
    other WECHATPAY_* are ignored."""
    if not read.get("wechatpay_mchid"):
        return {k: v for k, v in read.items() if not k.startswith("wechatpay_")}
    read.setdefault("wechatpay_appid", read.get("wechat_app_id"))
    missing = [name for key, name in _WECHATPAY_REQUIRED if not read.get(key)]
    if not read.get("wechatpay_appid"):
        missing.append("WECHATPAY_APPID (or WECHAT_APP_ID)")
    if missing:
        raise ConfigError(f"WECHATPAY_MCHID is set, so these are needed too: {', '.join(missing)}")
    return read


def warnings(settings: Settings) -> list[str]:
    """What is allowed but probably wrong, to say loudly at start."""
    found = []
    host = urlsplit(settings.public_base_url).hostname or ""
    platforms = [
        name
        for name, on in (
            ("Telegram", settings.telegram_bot_token),
            ("WeChat", settings.wechat_token),
        )
        if on
    ]
    if platforms and internal_host(host):
        found.append(
            f"PUBLIC_BASE_URL is {settings.public_base_url}, a loopback address, while "
            f"{' and '.join(platforms)} is configured: certificate QR codes and links sent there "
            "point nowhere. Set PUBLIC_BASE_URL to the https address people reach."
        )
    return found


def demo_payments(settings: Settings) -> bool:
    """Whether donations end at the demo pay page, which fulfils with one button: only with
    no way to take money (no WeChat Pay, no DONATION_URL), no platform credential at all, and
    a loopback PUBLIC_BASE_URL: a newcomer's machine, never a deployment."""
    credentials = (
        settings.wechatpay_mchid,
        settings.donation_url,
        settings.telegram_bot_token,
        settings.wechat_token,
        settings.wechat_app_id,
        settings.wechat_app_secret,
    )
    host = urlsplit(settings.public_base_url).hostname or ""
    return not any(credentials) and internal_host(host)


def internal_host(host: str, private: bool = False) -> bool:
    """localhost or a loopback address (with `private`, also a private or link-local one): a
    host no platform can reach."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or (private and (address.is_private or address.is_link_local))
