"""The small tree of real faults; expected outcomes are return values, not exceptions."""


class BotError(Exception):
    """Base of every fault the bot raises on purpose."""


class ConfigError(BotError):
    """A setting is missing or malformed; start-up stops with this message."""


class StoreError(BotError):
    """Redis could not do what was asked (after retries)."""


class BusyError(StoreError):
    """Another turn of the same user held the lock for too long."""


class StaleStateError(BotError):
    """Saved conversation data no longer fits the catalogue (a base or form was removed)."""


class CommandError(BotError):
    """An admin command's input cannot be used; the command exits 2 naming the problem."""
