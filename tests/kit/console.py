"""Helpers for console tests: accounts, and an admin logging in through the real form."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from bot.runtime import Runtime

PASSWORD = "correct horse battery"  # noqa: S105 - a test password


async def account(runtime: Runtime, name: str, role: str) -> None:
    """A console account with the test password."""
    await runtime.admins.add(name, role, PASSWORD, "test")


def hidden(page: str, name: str) -> str:
    """A hidden field's value in a page."""
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found is not None, f"no {name} in the page"
    return found.group(1)


async def log_in(
    client: TestClient[Any, Any], name: str, password: str = PASSWORD, follow: bool = False
) -> Any:
    """Open the login page and submit it; the response."""
    page = await (await client.get("/admin/login")).text()
    form = {"csrf": hidden(page, "csrf"), "username": name, "password": password}
    return await client.post("/admin/login", data=form, allow_redirects=follow)


async def csrf_of(client: TestClient[Any, Any]) -> str:
    """The logged-in session's CSRF token, from a page."""
    page = await (await client.get("/admin")).text()
    return hidden(page, "csrf")
