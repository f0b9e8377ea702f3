"""Settings: defaults, .env, and clear messages for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import parser
from bot.config import load_settings, variables, warnings
from bot.errors import ConfigError
from tests.kit.paths import ROOT


def test_defaults_need_no_credentials() -> None:
    settings = load_settings({}, env_file=None)
    assert (settings.host, settings.port, settings.redis_url) == ("127.0.0.1", 8080, None)
    assert settings.key_prefix == "tp:" and settings.data_dir == Path("var")
    assert settings.public_base_url == "http://127.0.0.1:8080"


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=9000\nTELEGRAM_ADMIN_IDS=1, 2\nHOST=0.0.0.0\n")
    settings = load_settings({"PORT": "9100"}, env_file=env_file)
    assert settings.port == 9100 and settings.telegram_admin_ids == {1, 2}
    assert settings.host == "0.0.0.0"  # noqa: S104 - a value read back, nothing binds


def test_secrets_stay_out_of_repr() -> None:
    settings = load_settings({"BOT_SECRET": "s" * 20, "TELEGRAM_BOT_TOKEN": "123:abc"}, None)
    assert "s" * 20 not in repr(settings) and "123:abc" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "http", "PORT must be a number"),
        ("PORT", "70000", "PORT must be a number"),
        ("PUBLIC_BASE_URL", "trees.example.org", "PUBLIC_BASE_URL must be an http"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must start with"),
        ("REDIS_CLUSTER", "maybe", "REDIS_CLUSTER must be 1 or 0"),
        ("BOT_SECRET", "short", "at least 16 characters"),
        ("TELEGRAM_ADMIN_IDS", "12,abc", "numeric user ids"),
        ("WECHAT_ENCODING_AES_KEY", "tooshort", "43 characters"),
        ("REDIS_KEY_PREFIX", "a{b}", "must not contain braces"),
        ("TELEGRAM_RATE_LIMIT", "0", "positive number"),
        ("TELEGRAM_RATE_LIMIT", "fast", "positive number"),
        ("TELEGRAM_CHAT_RATE", "-1", "positive number"),
    ],
)
def test_bad_values_stop_with_a_clear_message(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({name: value}, env_file=None)


@pytest.mark.parametrize(
    ("env", "warned"),
    [
        ({"WECHAT_TOKEN": "t"}, True),
        ({"TELEGRAM_BOT_TOKEN": "1:a", "PUBLIC_BASE_URL": "http://localhost:8080"}, True),
        ({"TELEGRAM_BOT_TOKEN": "1:a", "PUBLIC_BASE_URL": "https://trees.example.org"}, False),
        ({}, False),  # a local run: loopback is right
    ],
)
def test_a_loopback_public_url_with_a_platform_is_warned_about(
    env: dict[str, str], warned: bool
) -> None:
    found = warnings(load_settings(env, env_file=None))
    assert bool(found) is warned
    assert not found or "PUBLIC_BASE_URL" in found[0]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TRUSTED_PROXIES", "10.0.0.0/8, nonsense", "TRUSTED_PROXIES must be"),
        ("REDIS_TIMEOUT", "0", "REDIS_TIMEOUT must be"),
        ("REDIS_TIMEOUT", "soon", "REDIS_TIMEOUT must be"),
    ],
)
def test_new_settings_are_checked(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({name: value}, env_file=None)


def test_operator_and_wechat_templates_are_read() -> None:
    settings = load_settings(
        {
            "OPERATOR_NAME": "无锡市林业站",
            "WECHAT_TEMPLATE_REMINDER": "tpl-a",
            "WECHAT_TEMPLATE_RESULT": " tpl-b ",
            "WECHAT_TEMPLATE_EMPTY": "  ",
        },
        env_file=None,
    )
    assert settings.operator_name == "无锡市林业站"
    assert settings.wechat_templates == (("reminder", "tpl-a"), ("result", "tpl-b"))


def test_a_cluster_needs_an_address() -> None:
    with pytest.raises(ConfigError, match="REDIS_CLUSTER=1 needs REDIS_URL"):
        load_settings({"REDIS_CLUSTER": "1"}, env_file=None)


def test_each_setting_is_declared_once_read_by_the_loop_and_documented() -> None:
    """One declaration per setting (variable, parser, help): the loader reads each, `serve
    --help` lists each, and the README's configuration table names each."""
    declared = variables()
    names = [variable.name for _, variable in declared]
    assert len(names) == len(set(names)) and all(v.help for _, v in declared)
    typed = load_settings({"HOST": "::1", "BACKUP_HOUR": "5", "REDIS_TIMEOUT": "3"}, None)
    assert (typed.host, typed.backup_hour, typed.redis_timeout) == ("::1", 5, 3.0)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    assert [n for n in names if f"`{n}`" not in table] == []
    (serve,) = [
        p
        for a in parser()._subparsers._group_actions  # type: ignore[union-attr]
        for name, p in a.choices.items()
        if name == "serve"
    ]
    listed = serve.format_help()
    assert [n for n in names if n not in listed] == []
