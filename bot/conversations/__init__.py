"""The conversations, by name: each is a command (/pledge, /book...) and some are menu entries;
`act:NAME:ARG` buttons start them from messages sent outside a conversation."""

from collections.abc import Mapping
from typing import Any

from bot.conversations import account, admin, booking, evidence, pledge, team
from bot.flow import Flow

FLOWS: Mapping[str, Flow[Any]] = {
    flow.name: flow
    for flow in (
        pledge.FLOW,
        account.MINE,
        account.LANG,
        account.HELP,
        account.FORGET,
        account.MYDATA,
        account.PRIVACY,
        account.CANCEL_PLEDGE,
        account.NAME_CERTIFICATE,
        evidence.FLOW,
        booking.BOOK,
        booking.BOOKINGS,
        booking.CANCEL_BOOKING,
        booking.KEEP_BOOKING,
        admin.CHECKIN,
        admin.VOLUNTEERS,
        admin.BROADCAST,
        admin.CLAIMS,
        team.TEAM,
        team.JOIN,
    )
}
