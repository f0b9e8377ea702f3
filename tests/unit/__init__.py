"""Tests inside one process, against a real Redis."""
