"""HTML pages from Jinja2 templates in bot/templates, escaped by default, in the visitor's
language."""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from aiohttp import web

from bot import i18n


@cache
def environment() -> jinja2.Environment:
    """The one Jinja environment of every page, public and console: the package's templates,
    everything escaped, an undefined name an error."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bot", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )


def page(template: str, locale: str, status: int = 200, **context: Any) -> web.Response:
    """Render `template` with `t(key, **params)` translating into `locale`."""
    html = (
        environment().get_template(template).render(t=translator(locale), locale=locale, **context)
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def translator(locale: str) -> Any:
    """`t(key, **params)` in `locale`, as templates call it."""

    def translate(key: str, **params: Any) -> str:
        return i18n.text(key, locale, params)

    return translate


def request_locale(request: web.Request) -> str:
    """The visitor's language from `?lang=` or Accept-Language (zh* → Chinese, else English)."""
    if request.query.get("lang") in i18n.LOCALES:
        return request.query["lang"]
    header = request.headers.get("Accept-Language", "")
    first = header.split(",", 1)[0].split(";", 1)[0].strip()
    return i18n.locale_for(first or None)
