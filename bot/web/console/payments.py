"""GET /admin/payments: donations: WeChat Pay orders by status, flagged payments, a receipts
import with a preview of its matches before it applies, and refunds.

POST /admin/payments/preview (a CSV file, at most 5 MB) checks the whole file and shows what
the import would do; the file waits in Redis for an hour; POST /admin/payments/import applies
it. POST /admin/payments/refund asks WeChat Pay to refund a pledge."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from bot import i18n
from bot.errors import BotError
from bot.runtime import Runtime
from bot.services import receipts
from bot.services.admins import Section
from bot.services.payments import ImportReport, miss_kind
from bot.store.payments import OrderStatus
from bot.web.console.guard import Guard, Viewer
from bot.web.console.render import confirmation, confirmed, render

MAX_FILE = 5 * 1024 * 1024
SHOWN = 50


def setup(app: web.Application, runtime: Runtime, guard: Guard) -> None:
    """Add the donations pages."""
    payments = runtime.payments
    folder = runtime.settings.data_dir / "imports"

    async def show(
        request: web.Request, viewer: Viewer, status: int = 200, **extra: Any
    ) -> web.Response:
        chosen = request.query.get("status", "")
        orders = [
            o for o in await payments.store.recent_orders() if not chosen or o.status == chosen
        ]
        rows = [
            {
                "no": o.out_trade_no,
                "pledge": o.pledge_id,
                "yuan": f"{o.amount_fen / 100:.2f}",
                "status": str(o.status),
                "kind": o.kind,
                "made": runtime.catalog.local_minute(o.created),
                "paid": o.paid_at,
            }
            for o in orders
        ]
        flagged = await payments.flagged(viewer.locale, 50)
        context = {
            "mode": str(payments.mode),
            "rows": rows,
            "chosen": chosen,
            "statuses": [str(s) for s in OrderStatus],
            "flagged": flagged,
        }
        return render(
            request, "console/payments.html", viewer, viewer.locale, status, **context | extra
        )

    @guard(Section.PAYMENTS)
    async def page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return await show(request, viewer)

    @guard(Section.PAYMENTS, changes=True)
    async def preview(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        form = await request.post()
        upload = form.get("file")
        data = b""
        if isinstance(upload, web.FileField):
            with upload.file:
                data = upload.file.read(MAX_FILE + 1)
        if not data or len(data) > MAX_FILE:
            limit = f"{MAX_FILE // 2**20} MB"
            return await show(
                request, viewer, 400, error=_text(viewer, "console.file_needed", limit=limit)
            )
        try:
            with receipts.as_file(data, folder) as path:
                encoding, count = receipts.check(path)
                report = await payments.import_receipts(
                    receipts.read(path, encoding), dry_run=True
                )
        except BotError as exc:
            problem = str(exc).split(": ", 1)[-1]  # not the temporary file's name
            await runtime.audit.record(
                viewer.name, "payments.preview_refused", problem[:200], viewer.address
            )
            return await show(request, viewer, 400, error=problem)
        upload_id = secrets.token_urlsafe(12)
        await payments.store.keep_upload(upload_id, data)
        name = upload.filename if isinstance(upload, web.FileField) else ""
        await runtime.audit.record(
            viewer.name, "payments.preview", f"{name} {count} lines", viewer.address
        )
        return await show(
            request,
            viewer,
            preview=_summary(report, count, viewer.locale),
            upload_id=upload_id,
            name=name,
        )

    @guard(Section.PAYMENTS, changes=True)
    async def apply(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        form = await request.post()
        upload_id = str(form.get("upload", ""))
        data = await payments.store.upload(upload_id) if upload_id else None
        if data is None:
            return await show(request, viewer, 400, error=_text(viewer, "console.upload_gone"))
        with receipts.as_file(data, folder) as path:
            encoding, count = receipts.check(path)
            report = await payments.import_receipts(receipts.read(path, encoding))
        await payments.store.drop_upload(upload_id)
        summary = _summary(report, count, viewer.locale)
        await runtime.audit.record(
            viewer.name,
            "payments.import",
            f"{count} lines, {report.fulfilled} fulfilled",
            viewer.address,
        )
        return await show(request, viewer, done=summary)

    @guard(Section.PAYMENTS, changes=True)
    async def refund(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        form = await request.post()
        pledge, reason = str(form.get("pledge", "")), str(form.get("reason", "")).strip()[:80]
        if reason and not confirmed(form):
            return confirmation(
                request,
                viewer,
                _text(viewer, "console.refund_ask", pledge=pledge),
                _text(viewer, "console.refund_consequence"),
                _text(viewer, "console.refund"),
                "/admin/payments",
                pledge=pledge,
                reason=reason,
            )
        try:
            order = await payments.refund(pledge, reason, f"console:{viewer.name}")
        except BotError as exc:
            return await show(request, viewer, 400, error=str(exc))
        await runtime.audit.record(
            viewer.name, "payments.refund", f"{pledge} {reason}", viewer.address
        )
        done = _text(viewer, "console.refund_asked", no=order.refund_no)
        return await show(request, viewer, message=done)

    app.router.add_get("/payments", page)
    app.router.add_post("/payments/preview", preview)
    app.router.add_post("/payments/import", apply)
    app.router.add_post("/payments/refund", refund)


def _text(viewer: Viewer, key: str, **params: Any) -> str:
    return i18n.text(key, viewer.locale, params)


def _summary(report: ImportReport, count: int, locale: str) -> dict[str, Any]:
    return {
        "lines": count,
        "fulfilled": report.fulfilled,
        "already": report.already,
        "reasons": {i18n.render(miss_kind(k), locale): n for k, n in report.not_matched.items()},
        "unmatched": [
            {
                "line": line,
                "reference": r.reference,
                "yuan": r.amount_yuan,
                "why": i18n.render(miss.why, locale),
            }
            for line, r, miss in report.unmatched[:SHOWN]
        ],
    }
