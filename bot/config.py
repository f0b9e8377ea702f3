"""Settings from the environment (and a `.env` file), validated once at start-up."""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from bot.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the bot reads from its environment; see README's configuration table."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str = "http://127.0.0.1:8080"
    trusted_proxies: tuple[Network, ...] = ()
    redis_url: str | None = None
    redis_cluster: bool = False
    redis_sentinels: tuple[tuple[str, int], ...] = ()  # REDIS_SENTINELS: host:port, ...
    redis_sentinel_master: str = "mymaster"
    allow_volatile_redis: bool = False  # ALLOW_VOLATILE_REDIS=1: start on an unfit server (tests)
    redis_timeout: float = 2.0
    key_prefix: str = "tp:"
    data_dir: Path = Path("var")
    log_json: bool = False  # LOG_FORMAT=json: one JSON object per log line
    backup_keep: int = 7  # BACKUP_KEEP: nightly backups kept in BOT_DATA_DIR/backups (0: none)
    backup_hour: int = 3  # BACKUP_HOUR: the hour (Asia/Shanghai) the nightly backup is due
    bot_secret: str | None = field(default=None, repr=False)
    telegram_bot_token: str | None = field(default=None, repr=False)
    telegram_api_base_url: str | None = None
    telegram_webhook_secret: str | None = field(default=None, repr=False)
    telegram_admin_ids: frozenset[int] = frozenset()
    telegram_rate_limit: float = 30.0
    telegram_chat_rate: float = 1.0
    broadcast_rate: float = 25.0
    wechat_token: str | None = field(default=None, repr=False)
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = field(default=None, repr=False)
    wechat_encoding_aes_key: str | None = field(default=None, repr=False)
    wechat_api_base_url: str | None = None
    wechat_admin_openids: frozenset[str] = frozenset()
    admin_password: str | None = field(default=None, repr=False)
    wechatpay_mchid: str | None = None
    wechatpay_appid: str | None = None
    wechatpay_api_v3_key: str | None = field(default=None, repr=False)
    wechatpay_private_key: Path | None = None
    wechatpay_cert_serial: str | None = None
    wechatpay_public_key: Path | None = None
    wechatpay_public_key_id: str | None = None
    wechatpay_api_base_url: str = "https://api.mch.weixin.qq.com"
    donation_url: str | None = None
    operator_name: str | None = None  # who runs the service, named in the privacy notice
    wechat_templates: tuple[tuple[str, str], ...] = ()  # (kind, template id): WECHAT_TEMPLATE_*


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> Settings:
    """Read settings from `environ` (default os.environ) over `env_file`; raise ConfigError."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    env = {k: v.strip() for k, v in values.items() if v.strip()}
    settings = Settings(
        host=env.get("HOST", "127.0.0.1"),
        port=_port(env.get("PORT", "8080")),
        public_base_url=_http_url("PUBLIC_BASE_URL", env.get("PUBLIC_BASE_URL"))
        or f"http://{env.get('HOST', '127.0.0.1')}:{env.get('PORT', '8080')}",
        trusted_proxies=_networks("TRUSTED_PROXIES", env.get("TRUSTED_PROXIES")),
        redis_url=_redis_url(env.get("REDIS_URL")),
        redis_cluster=_flag("REDIS_CLUSTER", env.get("REDIS_CLUSTER", "0")),
        redis_sentinels=_addresses("REDIS_SENTINELS", env.get("REDIS_SENTINELS")),
        redis_sentinel_master=env.get("REDIS_SENTINEL_MASTER", "mymaster"),
        allow_volatile_redis=_flag("ALLOW_VOLATILE_REDIS", env.get("ALLOW_VOLATILE_REDIS", "0")),
        redis_timeout=_seconds("REDIS_TIMEOUT", env.get("REDIS_TIMEOUT", "2")),
        key_prefix=_prefix(env.get("REDIS_KEY_PREFIX", "tp:")),
        data_dir=Path(env.get("BOT_DATA_DIR", "var")),
        log_json=_log_format(env.get("LOG_FORMAT", "text")),
        backup_keep=_whole("BACKUP_KEEP", env.get("BACKUP_KEEP", "7"), 1000),
        backup_hour=_whole("BACKUP_HOUR", env.get("BACKUP_HOUR", "3"), 23),
        bot_secret=_secret(env.get("BOT_SECRET")),
        telegram_bot_token=env.get("TELEGRAM_BOT_TOKEN"),
        telegram_api_base_url=_http_url("TELEGRAM_API_BASE_URL", env.get("TELEGRAM_API_BASE_URL")),
        telegram_webhook_secret=env.get("TELEGRAM_WEBHOOK_SECRET"),
        telegram_admin_ids=frozenset(_ints("TELEGRAM_ADMIN_IDS", env.get("TELEGRAM_ADMIN_IDS"))),
        telegram_rate_limit=_rate("TELEGRAM_RATE_LIMIT", env.get("TELEGRAM_RATE_LIMIT", "30")),
        telegram_chat_rate=_rate("TELEGRAM_CHAT_RATE", env.get("TELEGRAM_CHAT_RATE", "1")),
        broadcast_rate=_rate("BROADCAST_RATE", env.get("BROADCAST_RATE", "25")),
        wechat_token=env.get("WECHAT_TOKEN"),
        wechat_app_id=env.get("WECHAT_APP_ID"),
        wechat_app_secret=env.get("WECHAT_APP_SECRET"),
        wechat_encoding_aes_key=_aes_key(env.get("WECHAT_ENCODING_AES_KEY")),
        wechat_api_base_url=_http_url("WECHAT_API_BASE_URL", env.get("WECHAT_API_BASE_URL")),
        wechat_admin_openids=frozenset(_items(env.get("WECHAT_ADMIN_OPENIDS"))),
        admin_password=env.get("ADMIN_PASSWORD"),
        **_wechatpay(env),
        donation_url=_http_url("DONATION_URL", env.get("DONATION_URL")),
        operator_name=env.get("OPERATOR_NAME"),
        wechat_templates=tuple(
            sorted(
                (name.removeprefix("WECHAT_TEMPLATE_").lower(), value)
                for name, value in env.items()
                if name.startswith("WECHAT_TEMPLATE_")
            )
        ),
    )
    if settings.redis_cluster and not settings.redis_url:
        raise ConfigError("REDIS_CLUSTER=1 needs REDIS_URL, the address of one of its nodes")
    return settings


_WECHATPAY_REQUIRED = (
    "WECHATPAY_API_V3_KEY",
    "WECHATPAY_PRIVATE_KEY",
    "WECHATPAY_CERT_SERIAL",
    "WECHATPAY_PUBLIC_KEY",
    "WECHATPAY_PUBLIC_KEY_ID",
)


def _wechatpay(env: Mapping[str, str]) -> dict[str, Any]:
    """The merchant account, all or nothing: WECHATPAY_MCHID turns WeChat Pay on and then every
    key it needs must be given (the files are read when the gateway opens)."""
    mchid = env.get("WECHATPAY_MCHID")
    if not mchid:
        return {}
    missing = [name for name in _WECHATPAY_REQUIRED if not env.get(name)]
    appid = env.get("WECHATPAY_APPID") or env.get("WECHAT_APP_ID")
    if not appid:
        missing.append("WECHATPAY_APPID (or WECHAT_APP_ID)")
    if missing:
        raise ConfigError(f"WECHATPAY_MCHID is set, so these are needed too: {', '.join(missing)}")
    if len(env["WECHATPAY_API_V3_KEY"]) != 32:
        raise ConfigError(
            "WECHATPAY_API_V3_KEY must be the 32 characters set in the merchant platform"
        )
    return {
        "wechatpay_mchid": mchid,
        "wechatpay_appid": appid,
        "wechatpay_api_v3_key": env["WECHATPAY_API_V3_KEY"],
        "wechatpay_private_key": Path(env["WECHATPAY_PRIVATE_KEY"]),
        "wechatpay_cert_serial": env["WECHATPAY_CERT_SERIAL"],
        "wechatpay_public_key": Path(env["WECHATPAY_PUBLIC_KEY"]),
        "wechatpay_public_key_id": env["WECHATPAY_PUBLIC_KEY_ID"],
        "wechatpay_api_base_url": _http_url(
            "WECHATPAY_API_BASE_URL", env.get("WECHATPAY_API_BASE_URL")
        )
        or "https://api.mch.weixin.qq.com",
    }


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


def _port(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"PORT must be a number from 1 to 65535, got {raw!r}")
    return int(raw)


def _http_url(name: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{name} must be an http(s) URL such as https://example.org, got {raw!r}"
        )
    return raw.rstrip("/")


def _redis_url(raw: str | None) -> str | None:
    if raw is not None and urlsplit(raw).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {raw!r}")
    return raw


def _addresses(name: str, raw: str | None) -> tuple[tuple[str, int], ...]:
    found = []
    for item in _items(raw):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{name} must be host:port, host:port..., got {item!r}")
        found.append((host.strip("[]"), int(port)))
    return tuple(found)


def _number(name: str, raw: str, low: float, high: float, what: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan  # fails every comparison below
    if not low <= value <= high:
        raise ConfigError(f"{name} must be {what}, got {raw!r}")
    return value


def _log_format(raw: str) -> bool:
    if raw.lower() not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT must be text or json, got {raw!r}")
    return raw.lower() == "json"


def _whole(name: str, raw: str, high: int) -> int:
    if not raw.isdigit() or int(raw) > high:
        raise ConfigError(f"{name} must be a whole number from 0 to {high}, got {raw!r}")
    return int(raw)


def _rate(name: str, raw: str) -> float:
    return _number(name, raw, 1e-6, math.inf, "a positive number of messages per second")


def _seconds(name: str, raw: str) -> float:
    return _number(name, raw, 0.1, 60, "a number of seconds from 0.1 to 60")


def _flag(name: str, raw: str) -> bool:
    if raw.lower() not in ("0", "1", "true", "false", "yes", "no"):
        raise ConfigError(f"{name} must be 1 or 0, got {raw!r}")
    return raw.lower() in ("1", "true", "yes")


def _prefix(raw: str) -> str:
    if any(c in raw for c in "{} \t\n"):
        raise ConfigError(f"REDIS_KEY_PREFIX must not contain braces or spaces, got {raw!r}")
    return raw


def _secret(raw: str | None) -> str | None:
    if raw is not None and len(raw) < 16:
        raise ConfigError("BOT_SECRET must be at least 16 characters long")
    return raw


def _aes_key(raw: str | None) -> str | None:
    if raw is not None and len(raw) != 43:
        raise ConfigError("WECHAT_ENCODING_AES_KEY must be the 43 characters WeChat shows")
    return raw


def _networks(name: str, raw: str | None) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in _items(raw))
    except ValueError as exc:
        raise ConfigError(
            f"{name} must be comma-separated addresses or networks (10.0.0.1, 10.0.0.0/8): {exc}"
        ) from None


def _items(raw: str | None) -> list[str]:
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


def _ints(name: str, raw: str | None) -> list[int]:
    items = _items(raw)
    bad = [item for item in items if not item.lstrip("-").isdigit()]
    if bad:
        raise ConfigError(f"{name} must be comma-separated numeric user ids, got {bad[0]!r}")
    return [int(item) for item in items]
