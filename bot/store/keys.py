"""Every Redis key of the bot, spelled once, with the TTL it lives for.

One prefix for everything (`tp:` by default), so one Redis can host tests and deployments side by
side. Keys that one script or pipeline-in-a-slot touches share a hash tag, so the same code runs
on Redis Cluster: `tp:{u:telegram:42}:session` and `tp:{u:telegram:42}:lock`,
`tp:{slot:7}:meta` and `tp:{slot:7}:booked`, `tp:{bc:3}:meta` and `tp:{bc:3}:state`.
A key without a TTL is a record (or an index of records) and says so where it is built.
"""

from __future__ import annotations

import re
from enum import StrEnum

from bot.model import immutable

SESSION_TTL = 30 * 24 * 3600  # conversation state and language choice of an idle user
FIRST_SESSION_TTL = 24 * 3600  # a conversation that never got past its first turn
REPLY_TTL = 120  # a rendered reply, for a platform's retries of the same message
KNOWN_TTL = 30 * 24 * 3600  # "we have seen this user": profile look-ups happen once a month
SEEN_TTL = 48 * 3600  # platforms retry for up to a day; a mark outlives that
NOTE_TTL = 30 * 24 * 3600  # messages waiting for a web or terminal user's next visit
DONE_TTL = 7 * 24 * 3600  # "this outbox entry was delivered" marks
LOCK_TTL_MS = 15_000  # a crashed turn frees its user after this
MASS_QUOTA_TTL = 40 * 24 * 3600  # a month's WeChat mass-send count, and a little
WECHAT_TOKEN_LOCK_MS = 10_000  # a process fetching the WeChat token holds the others this long
WORKER_ALIVE_S = 5  # a worker that has not beaten for this long is taken for dead
UPLOAD_TTL = 3600  # a photo waiting for its user to say which pledge it is for
CONSOLE_IDLE_TTL = 8 * 3600  # an admin console session unused this long is over
LOGIN_WINDOW_S = 15 * 60  # failed logins are counted over this window
STRANGERS_TTL = 120  # a minute's count of a stranger's refusals outlives its minute
MEDIA_TTL = 30 * 24 * 3600  # a platform account's picture ids, from the last one kept


class Kept(StrEnum):
    """What a key is to a backup."""

    RECORD = "record"  # kept for years: always in a backup
    EVIDENCE = "evidence"  # a claim's photo: in a backup when asked for
    PASSING = "passing"  # sessions, marks, locks, rate counters, tokens: never


# Key names (after the prefix) that pass: a user's session, lock, marks, counters and upload;
# rate counters, console sessions and uploads, heartbeats, send budgets, WeChat's tokens and
# monthly count, delivery and daily-run marks, a migration's progress, pictures' platform ids.
# Anything else is kept, so a record family added later is in the backups without a change here.
_PASSING = re.compile(
    r"\{u:.*\}:(session|lock|seen:.*|reply:.*|rate|known|upload)"
    r"|rate:.*|console:(upload|session|failures):.*|worker:.*|\{pace:.*"
    r"|wechat:(?!active$).*|\{jobs\}:(done|daily):.*|migrate:.*|media:.*",
    re.DOTALL,
)
_EVIDENCE = re.compile(r"\{claim:[^}]*\}:photo")
# Pictures older versions kept in Redis (blobs now): a claim's photo, an appeal's image.
_OLD_BLOBS = {
    "claim": re.compile(r"\{claim:([^}]*)\}:photo"),
    "appeal": re.compile(r"\{bc:([^}]*)\}:image"),
}
# The families of versioned JSON records: a hash of records by id, or one record per key.
_FAMILIES = {
    "pledges": re.compile(r"\{u:.*\}:pledges", re.DOTALL),
    "bookings": re.compile(r"\{u:.*\}:bookings", re.DOTALL),
    "consent": re.compile(r"\{u:.*\}:consent", re.DOTALL),
    "admins": re.compile(r"admins"),
    "claim": re.compile(r"\{claim:[^}]*\}:record"),
    "team": re.compile(r"\{team:[^}]*\}:record"),
    "order": re.compile(r"order:.*", re.DOTALL),
}


def _tag(user_key: str) -> str:
    """A user key made safe inside a hash tag (braces would end the tag)."""
    return user_key.replace("{", "(").replace("}", ")")


@immutable
class Keys:
    """The key builder: every key name of the bot, under one prefix."""

    prefix: str = "tp:"

    def pattern(self) -> str:
        """A SCAN pattern matching every key under the prefix."""
        return f"{self.prefix}*"

    def kept(self, key: str) -> Kept:
        """What a key under this prefix is to a backup: a record, evidence, or passing."""
        name = key.removeprefix(self.prefix)
        if _EVIDENCE.fullmatch(name):
            return Kept.EVIDENCE
        return Kept.PASSING if _PASSING.fullmatch(name) else Kept.RECORD

    def family(self, key: str) -> str | None:
        """The family of versioned records a key holds (`pledges`, `bookings`, `consent`,
        `admins`, `claim`, `order`), or None."""
        name = key.removeprefix(self.prefix)
        return next((f for f, shape in _FAMILIES.items() if shape.fullmatch(name)), None)

    def old_blob(self, key: str) -> tuple[str, str] | None:
        """A picture an older version kept in Redis: (`claim` or `appeal`, its id), or None."""
        name = key.removeprefix(self.prefix)
        for kind, shape in _OLD_BLOBS.items():
            if found := shape.fullmatch(name):
                return kind, found.group(1)
        return None

    def migration(self) -> str:
        """Where `migrate` keeps its progress: cursors per node (no TTL, removed when done)."""
        return f"{self.prefix}migrate:progress"

    # -- one user: everything under the user's hash tag ----------------------------------------

    def user(self, user_key: str, name: str) -> str:
        """The key of one thing kept about a user."""
        return f"{self.prefix}{{u:{_tag(user_key)}}}:{name}"

    def turn(self, user_key: str, message_id: str | None) -> list[str]:
        """The keys a turn's two scripts touch, in their order: lock, session, notes, consent,
        and the message's seen mark (when it has an id); one hash tag made once."""
        user = self.user(user_key, "")
        found = [f"{user}lock", f"{user}session", f"{user}notes", f"{user}consent"]
        return found + ([f"{user}seen:{message_id}"] if message_id is not None else [])

    def session(self, user_key: str) -> str:
        """The conversation state (SESSION_TTL)."""
        return self.user(user_key, "session")

    def lock(self, user_key: str) -> str:
        """The turn lock (LOCK_TTL_MS)."""
        return self.user(user_key, "lock")

    def notes(self, user_key: str) -> str:
        """Messages waiting for the user's next turn (NOTE_TTL)."""
        return self.user(user_key, "notes")

    def seen(self, user_key: str, message_id: str) -> str:
        """ "This message was handled" (SEEN_TTL)."""
        return self.user(user_key, f"seen:{message_id}")

    def reply(self, user_key: str, message_id: str) -> str:
        """The reply given to a message, for the platform's retries (REPLY_TTL)."""
        return self.user(user_key, f"reply:{message_id}")

    def rate(self, user_key: str) -> str:
        """Requests in the current flood window (TTL: the window)."""
        return self.user(user_key, "rate")

    def address_rate(self, address: str) -> str:
        """Requests from one network address in the current flood window (TTL: the window)."""
        return f"{self.prefix}rate:addr:{address}"

    def known(self, user_key: str) -> str:
        """ "We have seen this user" (KNOWN_TTL)."""
        return self.user(user_key, "known")

    def pledges(self, user_key: str) -> str:
        """The user's pledge records by id. No TTL: records."""
        return self.user(user_key, "pledges")

    def consent(self, user_key: str) -> str:
        """What the user agreed to (notice version, age group, guardian). No TTL: a record."""
        return self.user(user_key, "consent")

    def grants(self, user_key: str) -> str:
        """WeChat subscription templates the user accepted, and sends left. No TTL: changed
        by the user's choices and by each send."""
        return self.user(user_key, "grants")

    def user_pattern(self, user_key: str) -> str:
        """A SCAN pattern matching every key under one user's hash tag."""
        tag = "".join(f"\\{c}" if c in "*?[]\\" else c for c in _tag(user_key))
        return f"{self.prefix}{{u:{tag}}}:*"

    def bookings(self, user_key: str) -> str:
        """The user's bookings by slot id. No TTL: records."""
        return self.user(user_key, "bookings")

    # -- audiences and indexes -----------------------------------------------------------------

    def subscribers(self, channel: str) -> str:
        """Who on a channel receives appeals. No TTL: changed by /start, /stop, blocks."""
        return f"{self.prefix}subscribers:{channel}"

    def unreachable(self, channel: str) -> str:
        """Users the platform refused lately. No TTL: cleared when the user writes again."""
        return f"{self.prefix}unreachable:{channel}"

    def pledgers(self, base: str) -> str:
        """Everyone who pledged at a base. No TTL: audiences by base."""
        return f"{self.prefix}pledgers:{base}"

    def wechat_active(self) -> str:
        """Each WeChat follower's last message time. No TTL: one score per follower."""
        return f"{self.prefix}wechat:active"

    def certificate(self, serial: str) -> str:
        """A serial's owner and pledge. No TTL: public verification lasts."""
        return f"{self.prefix}cert:{serial}"

    def certificate_name(self, digest: str) -> str:
        """The serials issued to a name (by its digest). No TTL: an index of records."""
        return f"{self.prefix}certname:{digest}"

    def stats(self, day: str) -> str:
        """A day's counters. No TTL: one small hash a day, the programme's record."""
        return f"{self.prefix}stats:{day}"

    def people(self, day: str, base: str = "") -> str:
        """Who pledged on a day (overall or at a base), as a HyperLogLog: participants without
        a list of them. One hash tag, so days merge on a cluster too. No TTL: the record."""
        return f"{self.prefix}{{people}}:{day}:{base or 'all'}"

    def pledge_owner(self, pledge_id: str) -> str:
        """Whose a pledge id is. No TTL: an index of records."""
        return f"{self.prefix}pledge:{pledge_id}"

    def reference(self, code: str) -> str:
        """The pledge a link-out payment reference belongs to. No TTL: an index of records."""
        return f"{self.prefix}ref:{code}"

    def receipt(self, receipt_no: str) -> str:
        """ "This receipt was imported" and what it paid. No TTL: the record of a payment."""
        return f"{self.prefix}receipt:{receipt_no}"

    def order(self, out_trade_no: str) -> str:
        """A WeChat Pay order. No TTL: the record of a payment."""
        return f"{self.prefix}order:{out_trade_no}"

    def orders(self) -> str:
        """Orders by the time they were made. No TTL: an index of payment records."""
        return f"{self.prefix}orders"

    def console_upload(self, upload_id: str) -> str:
        """A file an admin uploaded, between its preview and its import (UPLOAD_TTL)."""
        return f"{self.prefix}console:upload:{upload_id}"

    def flagged_payments(self) -> str:
        """Payments an admin should look at (late, mismatched). No TTL: records."""
        return f"{self.prefix}payments:flagged"

    def claim(self, claim_id: str, name: str) -> str:
        """One part of a claim: `record`; `public` (the citizen lets its photo be shown once
        approved); `photo` as older versions kept it (TTL: EVIDENCE after the decision;
        photos are blobs now)."""
        return f"{self.prefix}{{claim:{claim_id}}}:{name}"

    def claim_counter(self) -> str:
        """The last claim id given. No TTL: ids are never reused."""
        return f"{self.prefix}claims:next"

    # -- teams (单位/团队尽责) ---------------------------------------------------------------

    def team(self, code: str, name: str) -> str:
        """One part of a team: `record` (JSON), `members` (user key → when they joined). No
        TTL: records."""
        return f"{self.prefix}{{team:{code}}}:{name}"

    def teams(self) -> str:
        """Every team's code by when it was made. No TTL: an index of records."""
        return f"{self.prefix}teams"

    def user_team(self, user_key: str) -> str:
        """The team a user is in, by year (one a year). No TTL: a record."""
        return self.user(user_key, "team")

    def team_certificate(self, serial: str) -> str:
        """A collective certificate's team. No TTL: public verification lasts."""
        return f"{self.prefix}teamcert:{serial}"

    def base_photos(self, base: str) -> str:
        """Approved claims whose citizens let their photo be shown on the base's page, by
        when decided (the newest kept). No TTL: an index of records."""
        return f"{self.prefix}base-photos:{base}"

    def claim_photo_ends(self) -> str:
        """When each decided claim's photo goes (epoch seconds). No TTL: an index of records."""
        return f"{self.prefix}claims:photo-ends"

    def claims_waiting(self) -> str:
        """Claims waiting for review, by time. No TTL: emptied by decisions."""
        return f"{self.prefix}claims:waiting"

    def claims_decided(self) -> str:
        """Decided claims, by the time of the decision. No TTL: an index of records."""
        return f"{self.prefix}claims:decided"

    def upload(self, user_key: str) -> str:
        """A photo a user just sent, until they say which pledge it is for (UPLOAD_TTL)."""
        return self.user(user_key, "upload")

    def secret(self) -> str:
        """The generated BOT_SECRET. No TTL: serials signed with it must stay verifiable."""
        return f"{self.prefix}secret"

    # -- the admin console ---------------------------------------------------------------------

    def admins(self) -> str:
        """Console accounts by name. No TTL: records."""
        return f"{self.prefix}admins"

    def console_session(self, session_id: str) -> str:
        """One console session (CONSOLE_IDLE_TTL, renewed by each request)."""
        return f"{self.prefix}console:session:{session_id}"

    def login_failures(self, who: str) -> str:
        """Failed logins of an account (`acct:NAME`) or an address (`addr:IP`) (LOGIN_WINDOW_S)."""
        return f"{self.prefix}console:failures:{who}"

    def login_guesses(self, account: str) -> str:
        """When an account under attack may take its next guess (LOGIN_WINDOW_S)."""
        return f"{self.prefix}console:guesses:{account}"

    def audit(self) -> str:
        """Every admin action, appended. No TTL: trimmed by age as it grows (AUDIT_KEEP_DAYS)."""
        return f"{self.prefix}audit"

    def refusals(self, address: str, what: str, minute: int) -> str:
        """A stranger's refusals of one kind in one minute (STRANGERS_TTL)."""
        return f"{self.prefix}audit:refusals:{minute}:{what}:{address}"

    # -- slots, bookings, jobs -----------------------------------------------------------------

    def slot(self, slot_id: str, name: str) -> str:
        """One part of a slot: meta, booked, waitlist, attended, checked_in_at. No TTL:
        records."""
        return f"{self.prefix}{{slot:{slot_id}}}:{name}"

    def slot_index(self, base: str | None = None) -> str:
        """Slots by start time, overall or at a base. No TTL: the schedule."""
        return f"{self.prefix}slots:{f'base:{base}' if base else 'all'}"

    def slot_counter(self) -> str:
        """The last slot id given. No TTL: ids are never reused."""
        return f"{self.prefix}slots:next"

    def checkin(self, code: str) -> str:
        """A check-in code's slot and user. No TTL: a record of the booking."""
        return f"{self.prefix}checkin:{code}"

    def jobs(self, name: str) -> str:
        """Due reminders, slot ends and the outbox stream: one hash tag, one script claims them.
        No TTL: entries leave as they are handled."""
        return f"{self.prefix}{{jobs}}:{name}"

    def delivered(self, entry_id: str) -> str:
        """ "This outbox entry was delivered" (DONE_TTL)."""
        return self.jobs(f"done:{entry_id}")

    # -- appeals -------------------------------------------------------------------------------

    def broadcast(self, bc_id: str, name: str) -> str:
        """One part of an appeal: meta, state; `image` as older versions kept it (images are
        blobs now). No TTL: the admin's record."""
        return f"{self.prefix}{{bc:{bc_id}}}:{name}"

    def broadcast_index(self) -> str:
        """Appeals by time. No TTL: the admin's record."""
        return f"{self.prefix}broadcasts"

    def broadcast_counter(self) -> str:
        """The last appeal id given. No TTL: ids are never reused."""
        return f"{self.prefix}broadcasts:next"

    def worker(self, name: str) -> str:
        """A worker's heartbeat (WORKER_ALIVE_S, refreshed while it runs)."""
        return f"{self.prefix}worker:{name}"

    def pace(self, channel: str, name: str) -> str:
        """A channel's shared budget: a bucket's next free moment (`all`, `chat:ID`,
        `appeals`), `pause` after a 429 (TTL: moments)."""
        return f"{self.prefix}{{pace:{channel}}}:{name}"

    def media(self, channel: str, account: str) -> str:
        """The ids a platform account gave uploaded pictures, by picture (MEDIA_TTL)."""
        return f"{self.prefix}media:{channel}:{account}"

    def mass_quota(self, month: str) -> str:
        """WeChat mass sends used in a month (MASS_QUOTA_TTL)."""
        return f"{self.prefix}wechat:mass:{month}"

    # -- WeChat's access token -----------------------------------------------------------------

    def wechat_token_prefix(self) -> str:
        """The prefix wechatpy's RedisStorage keeps the access token under (its own TTL)."""
        return f"{self.prefix}wechat"

    def wechat_token_lock(self) -> str:
        """Held by the one process fetching a new token (WECHAT_TOKEN_LOCK_MS)."""
        return f"{self.prefix}wechat:token-lock"

    def wechat_ticket_lock(self) -> str:
        """Held by the one process fetching a new JS-SDK ticket (WECHAT_TOKEN_LOCK_MS)."""
        return f"{self.prefix}wechat:ticket-lock"
