"""Tests that start processes: the bot's commands, servers, browsers."""
