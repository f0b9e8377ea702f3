"""What `serve` says when it starts: where the chat and the console are, how to get a console
account, whether the worker runs inside it, and how donations are paid."""

from __future__ import annotations

from bot.config import Settings, demo_payments


def start_lines(settings: Settings, worker: bool, processes: int = 1) -> list[str]:
    """The lines `serve` prints at start."""
    here = f"http://{settings.host}:{settings.port}"
    many = f" ({processes} processes)" if processes > 1 else ""
    account = (
        "the account 'admin' with ADMIN_PASSWORD is made at the first start"
        if settings.admin_password
        else "make an account: python -m bot admins add NAME --role city"
    )
    return [
        f"Web chat: {here}/chat{many}",
        f"Console:  {here}/admin ({account})",
        "Worker:   running inside serve (reminders, notices, appeals, backups)"
        if worker
        else "Worker:   not in serve (--no-worker): run python -m bot worker beside it",
        f"Payments: {payments(settings)}",
    ]


def payments(settings: Settings) -> str:
    """How donations are paid here, in a line."""
    if settings.wechatpay_mchid:
        return f"WeChat Pay, merchant {settings.wechatpay_mchid}"
    if demo_payments(settings):
        return (
            "DEMO: the pay page's one button fulfils as WeChat Pay would (no WeChat Pay, no "
            "DONATION_URL, no platform credential, a loopback PUBLIC_BASE_URL; any of them "
            "turns it off)"
        )
    where = settings.donation_url or "the China Green Foundation's official channel"
    return f"link-out to {where}, reconciled with python -m bot payments import"
