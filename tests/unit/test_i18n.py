"""Every message key used in the code and templates has a Chinese and an English text."""

from __future__ import annotations

import re

import pytest
from babel.messages.extract import extract_from_dir

from bot import i18n
from bot.model import Msg
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


def test_english_counts_agree_with_their_nouns() -> None:
    one = i18n.render(Msg("forget.done", {"count": 1, "claims": 1, "serials": 1}), "en")
    assert one.startswith("Deleted: 1 pledge, the photos of 1 claim,")
    assert "1 certificate serial," in one
    many = i18n.text("forget.done", "en", {"count": 2, "claims": 0, "serials": "3"})
    assert many.startswith("Deleted: 2 pledges, the photos of 0 claims,")
    assert "3 certificate serials," in many
    assert i18n.text("forget.done", "zh", {"count": 1, "claims": 1, "serials": 1}).startswith(
        "已删除：1 条尽责记录、1 份凭证的照片"
    )


def test_no_english_text_counts_a_plural_noun_without_its_singular() -> None:
    """A number followed by a plural noun ("{n} trees") reads "1 trees" when n is 1."""
    nouns = (
        r"(trees|days|pledges|claims|receipts|slots|volunteers|subscribers|messages|years|hours)"
    )
    loose = re.compile(r"\{[a-z_]+\} (more )?" + nouns + r"\b(?!/)")
    assert [k for k in sorted(used_keys()) if loose.search(i18n.text(k, "en"))] == []
