"""What the bot says on its own: a volunteer's reminder and the queued notices (a booking
promoted or cancelled, a check-in, a claim decided, a pledge fulfilled or expired), as Messages
in the user's language, with the certificate's image attached and a Brief for platforms that
deliver notices as a form. The worker only sends what this gives.
"""

from __future__ import annotations

from bot import i18n
from bot.catalog import Catalog
from bot.model import N_, Brief, Button, Message, Param, UserKey
from bot.services import places
from bot.services.bookings import Bookings
from bot.services.certificates import Certificates
from bot.services.pledges import NAME_NOTICE
from bot.store.jobs import Notice
from bot.store.slots import BookingStatus, Slot
from bot.store.users import UserStore

BRIEF_LOCALE = (
    "zh"  # subscription notifications fill Chinese templates (phrase fields are Chinese)
)
STATES = (  # a notice's key → its outcome in a word or two (a form's result field)
    ("fulfilled", N_("brief.done")),
    ("checked_in", N_("brief.done")),
    ("rejected", N_("brief.rejected")),
    ("expired", N_("brief.expired")),
    ("revoked", N_("brief.revoked")),
    ("cancel", N_("brief.cancelled")),
)


class Notices:
    """Reminders and notices rendered for their user."""

    def __init__(
        self,
        catalog: Catalog,
        bookings: Bookings,
        users: UserStore,
        certificates: Certificates,
        public_base_url: str,
    ) -> None:
        self.catalog = catalog
        self.bookings = bookings
        self.users = users
        self.certificates = certificates
        self.public_base_url = public_base_url

    async def reminder(self, slot_id: str, user: UserKey) -> Message | None:
        """The day-before reminder of a booking, with keep/cancel buttons and where to go;
        None when the booking was cancelled meanwhile."""
        found = await self.bookings.booking(user, slot_id)
        if found is None or found[0].status != BookingStatus.BOOKED:
            return None
        booking, slot = found
        locale = await self._locale(user)
        params = self._slot_params(slot, locale) | {"code": booking.code}
        buttons = (
            Button(f"act:keep_booking:{slot_id}", i18n.text(N_("booking.keep_button"), locale)),
            Button(
                f"act:cancel_booking:{slot_id}", i18n.text(N_("booking.cancel_button"), locale)
            ),
        )
        text = i18n.text(N_("booking.reminder"), locale, params)
        base = self.catalog.base(slot.base)
        brief = Brief(
            "reminder",
            subject=slot.task or i18n.text(N_("brief.volunteering"), BRIEF_LOCALE),
            when=self.catalog.local_minute(slot.start),
            note=base.name(BRIEF_LOCALE) if base else "",
        )
        if base is None:
            return Message(text, buttons, brief=brief)
        text, venue = places.located(text, base, locale, self.public_base_url)
        return Message(text, buttons, locale=locale, venue=venue, brief=brief)

    async def of(self, notice: Notice) -> Message:
        """A queued notice in its user's language, its certificate's image attached."""
        locale = await self._locale(UserKey(notice.user))
        params: dict[str, Param] = dict(notice.params)
        if "slot" in params:
            params |= self._slot_params(await self.bookings.slot(str(params["slot"])), locale)
        key = notice.key
        if key == "booking.checked_in" and notice.certificate:
            key = N_("booking.checked_in_certificate")
        brief = Brief(
            "result",
            subject=first_line(i18n.text(key, BRIEF_LOCALE, params)),
            state=i18n.text(state_of(key), BRIEF_LOCALE),
            note=str(params.get("reason") or params.get("serial") or params.get("place") or ""),
        )
        serial = notice.certificate
        image = await self.certificates.chat_image(serial) if serial else None
        return Message(
            i18n.text(key, locale, params),
            _buttons(notice, locale),
            certificate=serial,
            image=image,
            brief=brief,
        )

    async def _locale(self, user: UserKey) -> str:
        return await self.users.locale(user) or i18n.DEFAULT_LOCALE

    def _slot_params(self, slot: Slot | None, locale: str) -> dict[str, Param]:
        if slot is None:
            return {"when": "", "place": "", "task": "", "bring": ""}
        return {
            "when": i18n.when(self.catalog.span(slot.start, slot.end), locale),
            "place": self.catalog.base_name(slot.base, locale),
            "task": slot.task,
            "bring": self.catalog.volunteering.bring(locale),
        }


def _buttons(notice: Notice, locale: str) -> tuple[Button, ...]:
    """What a notice lets its reader do at once: give the name a certificate waits for."""
    if notice.key != NAME_NOTICE:
        return ()
    label = i18n.text(N_("naming.button"), locale)
    return (Button(f"act:name_certificate:{notice.params.get('pledge', '')}", label),)


def state_of(key: str) -> str:
    """A notice's outcome in a word or two (a subscription notification's result field)."""
    return next((state for word, state in STATES if word in key), N_("brief.updated"))


def first_line(text: str) -> str:
    """The first line of a text, without leading symbols (an emoji does not fit a form)."""
    line = text.strip().split("\n", 1)[0]
    return line.lstrip("✅❌⏰📅🎉⚠️🔔 ").strip()
