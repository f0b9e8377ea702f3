"""Telegram, WeChat and WeChat Pay as small servers on 127.0.0.1."""
