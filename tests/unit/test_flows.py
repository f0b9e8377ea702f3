"""The flows' own wiring: every Next("step") names a step of the same flow, every Switch a
flow that exists, and steps are named after what the bot asks."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.conversations import FLOWS
from bot.flow import Flow


def _functions(flow: Flow[Any]) -> Iterator[Callable[..., Any]]:
    yield flow.begin
    for step in flow.steps.values():
        yield step.ask
        yield step.answer


def _named(function: Callable[..., Any], outcome: str) -> set[str]:
    """The first arguments of every `outcome(...)` call in the function's source, with names
    looked up among the function's closure variables (as in admins_only)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    free = inspect.getclosurevars(function).nonlocals
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == outcome:
            first = node.args[0]
            if isinstance(first, ast.Constant):
                found.add(first.value)
            elif isinstance(first, ast.Name) and first.id in free:
                found.add(free[first.id])
            else:
                pytest.fail(f"{function.__qualname__}: {outcome} with a computed name")
    return found


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_every_next_names_a_step_of_its_flow(name: str) -> None:
    flow = FLOWS[name]
    for function in _functions(flow):
        missing = _named(function, "Next") - set(flow.steps)
        assert not missing, f"{function.__qualname__} in flow {name!r} goes to {missing}"


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_every_switch_names_a_flow(name: str) -> None:
    for function in _functions(FLOWS[name]):
        assert _named(function, "Switch") <= set(FLOWS), function.__qualname__


def test_the_check_finds_a_misspelt_step() -> None:
    async def begin(ctx: Any, data: Any) -> Any:
        from bot.model import Next

        return Next("ask_amonut")

    assert _named(begin, "Next") == {"ask_amonut"}
    assert "ask_amonut" not in FLOWS["pledge"].steps
