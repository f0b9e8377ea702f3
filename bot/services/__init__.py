"""The domain: the services flows, pages and commands use, over the store; `Services` is the
set a conversation step sees (the engine's `Ctx` carries it)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from bot.catalog import Catalog
from bot.model import immutable
from bot.services.appeals import Appeals
from bot.services.bookings import Bookings
from bot.services.certificates import Certificates
from bot.services.claims import Claims
from bot.services.consent import Consents
from bot.services.mydata import MyData
from bot.services.payments import Payments
from bot.services.pledges import Pledges
from bot.services.teams import Teams


@immutable
class Services:
    """The catalogue and the core services, as steps use them."""

    catalog: Catalog
    pledges: Pledges
    bookings: Bookings
    appeals: Appeals
    certificates: Certificates
    payments: Payments
    claims: Claims
    consents: Consents
    mydata: MyData
    teams: Teams

    def shared(self) -> dict[str, Any]:
        """The services by name, to build a richer value that carries them too."""
        return {f.name: getattr(self, f.name) for f in fields(Services)}
