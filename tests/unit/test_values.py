"""The value types (`bot.model.immutable`): frozen to the type checker, plain at run time."""

from __future__ import annotations

from pathlib import Path

from mypy import api

from bot.model import Button, Choice, Msg, Reply, Turn

ASSIGNS = """
from bot.model import Button, Reply, Msg
from bot.flow import Ctx
button = Button("a", "b")
button.id = "c"
reply = Reply(Msg("x"))
reply.choices = ()
def step(ctx: Ctx) -> None:
    ctx.locale = "en"
"""


def test_mypy_refuses_assigning_to_a_value(tmp_path: Path) -> None:
    """An assignment to a value's field is a type error, as for a frozen dataclass (CI runs
    mypy --strict), for the engine's values and a step's Ctx alike."""
    snippet = tmp_path / "assigns.py"
    snippet.write_text(ASSIGNS)
    cache = str(tmp_path / "cache")
    out, _, status = api.run(["--strict", "--cache-dir", cache, "--no-incremental", str(snippet)])
    assert status == 1
    refused = [line for line in out.splitlines() if "is read-only" in line]
    assert [line.split(":")[1] for line in refused] == ["5", "7", "9"], out


def test_values_are_equal_and_hashable_by_their_fields() -> None:
    assert Button("a", "b") == Button("a", "b") and Button("a", "b") != Button("a", "c")
    assert len({Button("a", "b"), Button("a", "b"), Choice("a", "label")}) == 2
    assert hash(Turn("telegram", "1", text="hi")) == hash(Turn("telegram", "1", text="hi"))
    assert Reply(Msg("k")).choices == ()
