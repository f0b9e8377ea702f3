"""Telegram: updates in (webhook, long polling), the outlet, and the Bot API transport."""
