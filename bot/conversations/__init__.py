"""The conversations, by name: the engine starts them from commands and the main menu."""

from collections.abc import Mapping
from typing import Any

from bot.conversations import account, pledge
from bot.flow import Flow

FLOWS: Mapping[str, Flow[Any]] = {
    flow.name: flow
    for flow in (pledge.FLOW, account.MINE, account.LANG, account.HELP, account.FORGET)
}
