"""What `serve` says when it starts: where the chat and the console are, how to get a console
account, and whether the worker runs inside it."""

from __future__ import annotations

from bot.config import Settings


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
    ]
