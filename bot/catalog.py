"""Planting bases, participation forms and conversion rules, loaded from assets/catalog.json."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, assert_never
from zoneinfo import ZoneInfo

from bot.errors import ConfigError
from bot.model import When, immutable

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"  # catalogue, fonts, pictures
DEFAULT_PATH = ASSETS_DIR / "catalog.json"


@immutable
class Localized:
    """A text given in Chinese and English."""

    zh: str
    en: str

    def __call__(self, locale: str) -> str:
        return self.zh if locale == "zh" else self.en


class Measure(StrEnum):
    """What a form's pledge counts."""

    TREES = "trees"
    YUAN = "yuan"
    INTEREST = "interest"  # volunteering: counted once attended


class Fulfilment(StrEnum):
    """How a form's pledge is fulfilled (and so earns its certificate)."""

    PAYMENT = "payment"  # paid through the official channel
    CLAIM = "claim"  # a photo reviewed by staff
    EVENT_OR_CLAIM = "event_or_claim"  # a planting event checked in, or a claim
    CHECKIN = "checkin"  # attendance at a booked slot


@immutable
class Entry:
    """Something the catalogue lists: a stable id and a name in both languages. On its own,
    a level: a group of bases (provincial, municipal pilot)."""

    id: str
    name: Localized


Level = Entry


@immutable
class Form(Entry):
    """A participation form: what its pledge counts and how it is fulfilled."""

    measure: Measure
    offered: bool
    fulfilment: Fulfilment = Fulfilment.CLAIM
    price_per_tree_yuan: int = 0  # for adoption: paid per tree a year (0: fulfilled by a claim)


@immutable
class CheckInWindow:
    """When volunteers may be checked in: from this long before a slot starts until this long
    after it ends."""

    opens_minutes_before: int = 60
    grace_minutes: int = 60

    def bounds(self, start: int, end: int) -> tuple[int, int]:
        """The window of a slot from `start` to `end` (epoch seconds): opens, closes."""
        return start - self.opens_minutes_before * 60, end + self.grace_minutes * 60


@immutable
class Base(Entry):
    """A planting base, its level and the forms it offers."""

    level: str
    district: Localized
    about: Localized
    forms: tuple[str, ...]
    address: Localized = Localized("", "")
    lat: float = 0.0  # GCJ-02, as Chinese maps use; approximate until the operator confirms
    lon: float = 0.0
    hours: Localized = Localized("", "")
    transport: Localized = Localized("", "")
    photo: str = ""  # a file under assets/
    checkin: CheckInWindow | None = None  # this base's own, else the catalogue's


@immutable
class Rules:
    """Conversion and limits: yuan per tree, certificate thresholds, yearly duty."""

    yuan_per_tree: int
    min_donation_yuan: int
    min_trees: int
    duty_min_trees: int
    duty_max_trees: int
    max_donation_yuan: int
    max_trees: int
    max_name_chars: int
    issuer: Localized
    title: Localized = Localized(
        "全民义务植树尽责电子证书", "Certificate of Voluntary Tree-Planting Duty"
    )
    honorary_title: Localized = Localized(
        "全民义务植树荣誉电子证书", "Honorary Certificate of Voluntary Tree Planting"
    )


@immutable
class Privacy:
    """Personal data: how long pledges keep a name and a user id, and the duty's ages (the
    age group decides the certificate: duty or honorary)."""

    retention_years: int = 3
    age_from: int = 11
    age_to: int = 60
    age_to_women: int = 55


@immutable
class Volunteering:
    """How attended volunteering counts, and how booking works."""

    half_day_hours: float
    trees_per_half_day: int
    booking_days_ahead: int
    reminder_hours_before: float
    bring: Localized
    checkin: CheckInWindow = CheckInWindow()

    def trees_for_hours(self, hours: float) -> int:
        """Trees a slot of `hours` counts for once attended (at least one)."""
        return max(1, round(hours / self.half_day_hours * self.trees_per_half_day))


@immutable
class Deadlines:
    """How long a pledge waits for its fulfilment, and evidence is kept after a decision."""

    payment_days: int = 7
    claim_days: int = 30
    evidence_days: int = 90


@immutable
class Catalog:
    """The whole catalogue: look-ups by id and the duty arithmetic."""

    bases: tuple[Base, ...]
    forms: tuple[Form, ...]
    levels: tuple[Level, ...]
    rules: Rules
    volunteering: Volunteering
    timezone: ZoneInfo
    deadlines: Deadlines = Deadlines()
    privacy: Privacy = Privacy()

    def base(self, base_id: str) -> Base | None:
        """The base with this id, or None."""
        return next((b for b in self.bases if b.id == base_id), None)

    def checkin_window(self, base_id: str) -> CheckInWindow:
        """When volunteers at a base may be checked in (the base's own window, or the
        catalogue's)."""
        base = self.base(base_id)
        return (base.checkin if base else None) or self.volunteering.checkin

    def form(self, form_id: str) -> Form | None:
        """The form with this id, or None."""
        return next((f for f in self.forms if f.id == form_id), None)

    def base_name(self, base_id: str, locale: str) -> str:
        """A base's name in `locale`; its id if the catalogue no longer has it."""
        base = self.base(base_id)
        return base.name(locale) if base else base_id

    def form_name(self, form_id: str, locale: str) -> str:
        """A form's name in `locale`; its id if the catalogue no longer has it."""
        form = self.form(form_id)
        return form.name(locale) if form else form_id

    def local(self, moment: datetime | str) -> datetime:
        """A moment (aware, or ISO 8601 with its offset) in the programme's time zone."""
        aware = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
        return aware.astimezone(self.timezone)

    def local_minute(self, moment: datetime | str | int) -> str:
        """A moment (as `local` takes it, or epoch seconds) as local `YYYY-MM-DD HH:MM`."""
        if isinstance(moment, int):
            moment = datetime.fromtimestamp(moment, self.timezone)
        return self.local(moment).strftime("%Y-%m-%d %H:%M")

    def local_stamp(self, moment: datetime | str | int) -> str:
        """A moment as local time with its offset: `2026-12-03 18:00 (UTC+08:00)`."""
        if isinstance(moment, int):
            moment = datetime.fromtimestamp(moment, self.timezone)
        local = self.local(moment)
        offset = local.isoformat()[-6:]  # +08:00
        return f"{local:%Y-%m-%d %H:%M} (UTC{offset})"

    def span(self, start: int, end: int) -> When:
        """A time span (epoch seconds) to show in the programme's time zone."""
        return When(start, end, self.timezone.key)

    def way(self, form: Form) -> Fulfilment:
        """How a pledge of `form` is fulfilled: adoption without a price is a claim."""
        if form.fulfilment == Fulfilment.PAYMENT and form.measure == Measure.TREES:
            return Fulfilment.PAYMENT if form.price_per_tree_yuan > 0 else Fulfilment.CLAIM
        return form.fulfilment

    def price_yuan(self, form: Form, trees: int, amount_yuan: int) -> int:
        """What a pledge of `form` costs when it is paid: the donation, or the trees' price."""
        return amount_yuan if form.measure == Measure.YUAN else trees * form.price_per_tree_yuan

    def days_to_fulfil(self, way: Fulfilment) -> int:
        """How long a pledge fulfilled `way` waits before it expires."""
        match way:
            case Fulfilment.PAYMENT:
                return self.deadlines.payment_days
            case Fulfilment.CLAIM | Fulfilment.EVENT_OR_CLAIM | Fulfilment.CHECKIN:
                return self.deadlines.claim_days
            case _:
                assert_never(way)

    def trees_for_yuan(self, yuan: int) -> int:
        """Whole trees a donation of `yuan` counts for."""
        return yuan // self.rules.yuan_per_tree

    def certificate_gap(self, form: Form, amount: int) -> int:
        """How much more (yuan for donations, trees otherwise) the pledge needs for a certificate;
        0 when it earns one. Volunteering earns none until attendance is checked in."""
        match form.measure:
            case Measure.YUAN:
                return max(0, self.rules.min_donation_yuan - amount)
            case Measure.TREES:
                return max(0, self.rules.min_trees - amount)
            case Measure.INTEREST:
                return self.rules.min_trees
            case _:
                assert_never(form.measure)


def load_catalog(path: Path = DEFAULT_PATH) -> Catalog:
    """Load and check the catalogue; a broken file raises ConfigError naming the problem."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return _build(raw)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"catalogue {path} is not usable: {exc!r}") from exc


def _build(raw: dict[str, Any]) -> Catalog:
    forms = tuple(
        Form(
            id=f["id"],
            name=Localized(f["zh"], f["en"]),
            measure=Measure(f["measure"]),
            offered=f["offered"],
            fulfilment=Fulfilment(f.get("fulfilment", "claim")),
            price_per_tree_yuan=int(f.get("price_per_tree_yuan", 0)),
        )
        for f in raw["forms"]
    )
    levels = tuple(Level(lv["id"], Localized(lv["zh"], lv["en"])) for lv in raw["levels"])
    bases = tuple(
        Base(
            id=b["id"],
            name=Localized(b["zh"], b["en"]),
            level=b["level"],
            district=Localized(b["district_zh"], b["district_en"]),
            about=Localized(b["about_zh"], b["about_en"]),
            forms=tuple(b["forms"]),
            address=Localized(b.get("address_zh", ""), b.get("address_en", "")),
            lat=float(b.get("lat", 0.0)),
            lon=float(b.get("lon", 0.0)),
            hours=Localized(b.get("hours_zh", ""), b.get("hours_en", "")),
            transport=Localized(b.get("transport_zh", ""), b.get("transport_en", "")),
            photo=b.get("photo", ""),
            checkin=_window(b) if "checkin_opens_minutes_before" in b else None,
        )
        for b in raw["bases"]
    )
    _check(bases, forms, levels)
    cert, duty, limits = raw["certificate"], raw["duty"], raw["limits"]
    rules = Rules(
        yuan_per_tree=int(raw["yuan_per_tree"][str(raw["region_class"])]),
        min_donation_yuan=int(cert["min_donation_yuan"]),
        min_trees=int(cert["min_trees"]),
        duty_min_trees=int(duty["min_trees"]),
        duty_max_trees=int(duty["max_trees"]),
        max_donation_yuan=int(limits["max_donation_yuan"]),
        max_trees=int(limits["max_trees"]),
        max_name_chars=int(limits["max_name_chars"]),
        issuer=Localized(cert["issuer"]["zh"], cert["issuer"]["en"]),
        title=Localized(cert["title"]["zh"], cert["title"]["en"]),
        honorary_title=Localized(cert["honorary_title"]["zh"], cert["honorary_title"]["en"]),
    )
    privacy = Privacy(
        retention_years=int(raw.get("privacy", {}).get("retention_years", 3)),
        age_from=int(duty["age_from"]),
        age_to=int(duty["age_to"]),
        age_to_women=int(duty["age_to_women"]),
    )
    vol = raw["volunteering"]
    volunteering = Volunteering(
        half_day_hours=float(vol["half_day_hours"]),
        trees_per_half_day=int(vol["trees_per_half_day"]),
        booking_days_ahead=int(vol["booking_days_ahead"]),
        reminder_hours_before=float(vol["reminder_hours_before"]),
        bring=Localized(vol["bring"]["zh"], vol["bring"]["en"]),
        checkin=_window(vol),
    )
    deadlines = Deadlines(**{k: int(v) for k, v in raw.get("fulfilment", {}).items()})
    zone = ZoneInfo(raw["timezone"])
    return Catalog(bases, forms, levels, rules, volunteering, zone, deadlines, privacy)


def _window(raw: dict[str, Any]) -> CheckInWindow:
    """A check-in window from `checkin_opens_minutes_before` and `checkin_grace_minutes`
    (60 each when left out)."""
    window = CheckInWindow(
        int(raw.get("checkin_opens_minutes_before", 60)), int(raw.get("checkin_grace_minutes", 60))
    )
    if not (0 <= window.opens_minutes_before <= 24 * 60 and 0 <= window.grace_minutes <= 24 * 60):
        raise ConfigError(
            "check-in windows open and close within a day of a slot (0-1440 minutes)"
        )
    return window


def _check(bases: tuple[Base, ...], forms: tuple[Form, ...], levels: tuple[Level, ...]) -> None:
    offered = {f.id for f in forms if f.offered}
    level_ids = {lv.id for lv in levels}
    for base in bases:
        if base.level not in level_ids:
            raise ValueError(f"base {base.id} has unknown level {base.level}")
        unknown = set(base.forms) - offered
        if unknown or not base.forms:
            raise ValueError(f"base {base.id} offers unknown forms {sorted(unknown)}")
    ids = [b.id for b in bases]
    if len(ids) != len(set(ids)):
        raise ValueError("base ids must be unique")
