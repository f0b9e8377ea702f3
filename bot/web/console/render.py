"""Rendering console pages with aiohttp-jinja2: every page gets `t` (the viewer's language),
the viewer, its CSRF token, and the sections its role may open."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.services.admins import Section
from bot.templating import translator
from bot.web.console.guard import Viewer

NAV = (  # section, path, label key
    (Section.DASHBOARD, "/admin", "console.nav_dashboard"),
    (Section.CLAIMS, "/admin/claims", "console.nav_claims"),
    (Section.PAYMENTS, "/admin/payments", "console.nav_payments"),
    (Section.SLOTS, "/admin/slots", "console.nav_slots"),
    (Section.BROADCASTS, "/admin/broadcasts", "console.nav_broadcasts"),
    (Section.TEAMS, "/admin/teams", "console.nav_teams"),
    (Section.CERTIFICATES, "/admin/certificates", "console.nav_certificates"),
    (Section.EXPORTS, "/admin/exports", "console.nav_exports"),
    (Section.AUDIT, "/admin/audit", "console.nav_audit"),
)


def render(
    request: web.Request,
    template: str,
    viewer: Viewer | None,
    locale: str,
    status: int = 200,
    **context: Any,
) -> web.Response:
    """A console page."""
    nav = [
        (path, label, request.path == path)
        for section, path, label in NAV
        if viewer is not None and viewer.role.enters(section)
    ]
    base = {
        "t": translator(locale),
        "locale": locale,
        "viewer": viewer,
        "csrf": viewer.csrf if viewer else "",
        "nav": nav,
        "path": request.path,
        "other_language": str(request.rel_url.update_query(lang="en" if locale == "zh" else "zh")),
    }
    response = aiohttp_jinja2.render_template(template, request, base | context, status=status)
    return response


def confirmed(form: Any) -> bool:
    """Whether a form that cannot be undone came from its confirmation page."""
    return str(form.get("confirm", "")) == "yes"


def confirmation(
    request: web.Request,
    viewer: Viewer,
    question: str,
    consequence: str,
    yes: str,
    back: str,
    **fields: str,
) -> web.Response:
    """Ask once before what cannot be undone, naming its consequence; the form is posted
    again, confirmed, with its `fields`."""
    return render(
        request,
        "console/confirm.html",
        viewer,
        viewer.locale,
        question=question,
        consequence=consequence,
        yes=yes,
        back=back,
        action=request.path,
        fields=sorted(fields.items()),
    )
