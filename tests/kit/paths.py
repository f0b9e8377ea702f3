"""Where things are: the project's root and the tests' own folder (golden images, payloads)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
