"""Translations: gettext catalogues in locales/, compiled in memory with Babel at start-up.

Message ids are stable keys (`pledge.ask_base`); zh_CN is the source language, en follows.
"""

from __future__ import annotations

import gettext
import io
import string
from collections.abc import Mapping
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.model import Msg, Param, When

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "bot"
LOCALES = {"zh": "zh_CN", "en": "en"}
DEFAULT_LOCALE = "zh"


_WHEN_FORMAT = {"zh": "M月d日 EEE HH:mm", "en": "EEE d MMM HH:mm"}


def when(span: When, locale: str) -> str:
    """A time span in the local zone: `11月30日 周日 09:00-12:00`, `Sun 30 Nov 09:00-12:00`."""
    zone = ZoneInfo(span.zone)
    start, end = datetime.fromtimestamp(span.start, zone), datetime.fromtimestamp(span.end, zone)
    first = format_datetime(start, _WHEN_FORMAT[locale], locale=LOCALES[locale])
    return f"{first}-{end:%H:%M}"


def locale_for(code: str | None) -> str:
    """Our locale for a platform language code: zh* → Chinese, others → English, none → Chinese."""
    if not code:
        return DEFAULT_LOCALE
    return "zh" if code.lower().replace("_", "-").startswith("zh") else "en"


@cache
def catalogue(locale: str) -> gettext.NullTranslations:
    """The compiled catalogue of a locale (cached for the life of the process)."""
    po_path = LOCALES_DIR / LOCALES[locale] / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=LOCALES[locale])
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class _Plurals(string.Formatter):
    """`{n:tree|trees}` says "1 tree" or "5 trees" (the English catalogue's plurals)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        one, bar, many = format_spec.partition("|")
        if not bar:
            return str(super().format_field(value, format_spec))
        return f"{value} {one if str(value) == '1' else many}"


_PLURALS = _Plurals()


def _fill(template: str, params: Mapping[str, Any]) -> str:
    """`template` with its placeholders filled in (plural forms only where it has them)."""
    return (
        _PLURALS.vformat(template, (), params) if "|" in template else template.format_map(params)
    )


def text(key: str, locale: str, params: Mapping[str, object] | None = None) -> str:
    """Translate `key` into `locale` and fill in its placeholders."""
    template = _template(key, locale)
    return _fill(template, params) if params else template


def word(group: str, stored: str, locale: str) -> str:
    """A word a record stores, translated (`history.pledged` → 认捐); as stored when this
    version has no such key (an older version's phrase, a newer version's word)."""
    key = f"{group}.{stored}"
    said = text(key, locale)
    return stored if said == key else said


@lru_cache(maxsize=4096)  # the keys are the code's and the catalogue's: a few hundred
def _template(key: str, locale: str) -> str:
    """A key's text in a locale (kept: every turn renders the same buttons again)."""
    return catalogue(locale).gettext(key)


def render(msg: Msg, locale: str) -> str:
    """Translate a Msg value, and the Msg values among its parameters."""
    template = _template(msg.key, locale)
    if not msg.params:
        return template
    return _fill(template, {k: _param(v, locale) for k, v in msg.params.items()})


def _param(value: Param, locale: str) -> str | int:
    if isinstance(value, (str, int)):  # most are: checked first
        return value
    if isinstance(value, Msg):
        return render(value, locale)
    if isinstance(value, When):
        return when(value, locale)
    if isinstance(value, tuple):
        return "\n".join(render(item, locale) for item in value)
    return value
