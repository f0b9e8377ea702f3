"""`teams list|show CODE`: teams (单位/团队尽责) from the command line."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bot.cli.kit import Subcommands, command, group, with_runtime
from bot.errors import CommandError

if TYPE_CHECKING:
    from bot.runtime import Runtime


def register(commands: Subcommands) -> None:
    """Add the `teams` group."""
    teams = group(commands, "teams", "teams that fulfil the duty together")
    command(teams, "list", "every team with its progress", with_runtime(teams_list))
    command(teams, "show", "one team: members and trees", with_runtime(teams_show), "code")


async def teams_list(runtime: Runtime, args: argparse.Namespace) -> None:
    """Teams, newest first, a line each: code, year, name, members, trees to target."""
    for team in await runtime.teams.all():
        progress = await runtime.teams.progress(team)
        print(
            f"{team.code}\t{team.year}\t{team.name}\t{len(progress.members)} members\t"
            f"{progress.fulfilled}/{team.target} trees ({progress.percent}%)"
            + (f"\t{team.serial}" if team.serial else "")
        )


async def teams_show(runtime: Runtime, args: argparse.Namespace) -> None:
    """One team: its base, target, members (masked) and trees; its certificate if earned."""
    team = await runtime.teams.get(args.code)
    if team is None:
        raise CommandError(f"no team has the code {args.code!r}")
    progress = await runtime.teams.progress(team)
    base = runtime.catalog.base_name(team.base, "en") if team.base else "any base"
    print(f"{team.name} ({team.code}), {team.year}, {base}")
    print(f"trees: {progress.pledged} pledged, {progress.fulfilled} of {team.target} fulfilled")
    print(f"members ({len(progress.members)}): {', '.join(progress.members)}")
    print(f"page: {runtime.teams.link(team)}")
    if team.serial:
        print(f"collective certificate: {team.serial}")
