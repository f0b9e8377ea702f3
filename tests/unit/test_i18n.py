"""Every message key used in the code and templates has a Chinese and an English text."""

from __future__ import annotations

import pytest
from babel.messages.extract import extract_from_dir

from bot import i18n
from tests.kit.paths import ROOT

BOT = ROOT / "bot"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]


def used_keys() -> set[str]:
    found = extract_from_dir(str(BOT), METHODS, keywords={"N_": None, "t": None})
    return {message for _, _, message, _, _ in found if isinstance(message, str)}


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_every_key_is_translated(locale: str) -> None:
    keys = used_keys()
    assert len(keys) > 90
    catalogue = i18n.catalogue(locale)
    missing = sorted(k for k in keys if catalogue.gettext(k) == k)
    assert missing == []


def test_placeholders_match_between_languages() -> None:
    import string

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    for key in used_keys():
        assert fields(i18n.text(key, "zh")) == fields(i18n.text(key, "en")), key


def test_language_codes() -> None:
    assert [i18n.locale_for(c) for c in ("zh-hans", "zh_TW", "ZH", "en", "ru", None, "")] == [
        "zh",
        "zh",
        "zh",
        "en",
        "en",
        "zh",
        "zh",
    ]
