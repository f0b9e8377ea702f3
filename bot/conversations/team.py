"""Teams (单位/团队尽责): make one, join one, see how it stands, leave it.

    User: /team
    Bot:  Fulfil the duty together with your work unit, school or friends. [➕ Make a team]
          [🔑 Join with a code]
    User: Make a team
    Bot:  The team's name? (at most 30 characters)
    User: 绿色先锋队
    Bot:  At which base? [Any base] [Jinkui Park] ...
    User: Any base
    Bot:  How many trees together? [50] [100] [500]
    User: 100
    Bot:  Team 绿色先锋队 made. Join code K7M2Q9; members send /join K7M2Q9 or open the link.
          (the link's QR code)

    User: /join K7M2Q9
    Bot:  You are in 绿色先锋队: your pledges from now on count for the team.

    User: /team
    Bot:  绿色先锋队 (K7M2Q9): 12 members, 40 of 100 trees fulfilled (40%). [🚪 Leave the team]

A user is in one team a year; a wrong code, a second team, a name that cannot be printed get a
clear answer and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.conversations.common import whole_number
from bot.flow import Ctx, Flow, Step
from bot.model import N_, Again, Answer, Choice, End, Msg, Next, Outcome, Param, Reply
from bot.services import names
from bot.services.teams import MAX_NAME_CHARS, MAX_TARGET, Progress, Refusal
from bot.store.teams import Team

QUICK_TARGETS = (50, 100, 500)
ANY_BASE = "base:any"


@dataclass(slots=True)
class TeamDraft:
    """A team being made, or a code being asked for (`arg`: what followed /join)."""

    name: str = ""
    base: str = ""
    arg: str = ""
    v: int = 1


async def begin_team(ctx: Ctx, draft: TeamDraft) -> Outcome:
    """The user's team and how it stands, or the way to make or join one."""
    team = await ctx.teams.mine(ctx.user, ctx.local_year())
    if team is None:
        return Next("start")
    return Next("in_team", before=(status(ctx, await ctx.teams.progress(team)),))


def status(ctx: Ctx, progress: Progress) -> Reply:
    """How a team stands, with its link (and the link's QR code) to pass on."""
    team = progress.team
    params: dict[str, Param] = {
        "team": team.name,
        "code": team.code,
        "members": len(progress.members),
        "fulfilled": progress.fulfilled,
        "pledged": progress.pledged,
        "target": team.target,
        "percent": progress.percent,
        "link": ctx.teams.link(team),
    }
    return Reply(Msg(N_("team.status"), params), qr=ctx.teams.link(team))


async def ask_start(ctx: Ctx, draft: TeamDraft) -> Reply:
    """Make a team, or join one?"""
    choices = (
        Choice("team:create", Msg(N_("team.create"))),
        Choice("team:join", Msg(N_("team.join"))),
    )
    return Reply(Msg(N_("team.intro")), choices)


async def answer_start(ctx: Ctx, draft: TeamDraft, answer: Answer) -> Outcome:
    if answer.choice_id == "team:create":
        return Next("ask_name")
    if answer.choice_id == "team:join":
        return Next("ask_code")
    return Again(Msg(N_("team.pick")))


async def ask_name(ctx: Ctx, draft: TeamDraft) -> Reply:
    """The team's name?"""
    return Reply(Msg(N_("team.ask_name"), {"max": MAX_NAME_CHARS}))


async def answer_name(ctx: Ctx, draft: TeamDraft, answer: Answer) -> Outcome:
    name = names.clean(answer.text)
    if not name:
        return Again(Msg(N_("team.name_empty")))
    if len(name) > MAX_NAME_CHARS:
        return Again(Msg(N_("team.name_too_long"), {"max": MAX_NAME_CHARS}))
    missing = names.unprintable(name)
    if missing is not None:
        params: dict[str, Param] = {"char": missing, "code": f"U+{ord(missing):04X}"}
        return Again(Msg(N_("team.name_unprintable"), params))
    draft.name = name
    return Next("ask_base")


async def ask_base(ctx: Ctx, draft: TeamDraft) -> Reply:
    """At which base, or any?"""
    bases = tuple(Choice(f"base:{b.id}", b.name(ctx.locale)) for b in ctx.catalog.bases)
    return Reply(Msg(N_("team.ask_base")), (Choice(ANY_BASE, Msg(N_("team.any_base"))), *bases))


async def answer_base(ctx: Ctx, draft: TeamDraft, answer: Answer) -> Outcome:
    chosen = (answer.choice_id or "").removeprefix("base:")
    if answer.choice_id != ANY_BASE and ctx.catalog.base(chosen) is None:
        return Again(Msg(N_("pledge.pick_base")))
    draft.base = "" if answer.choice_id == ANY_BASE else chosen
    return Next("ask_target")


async def ask_target(ctx: Ctx, draft: TeamDraft) -> Reply:
    """How many trees together?"""
    choices = tuple(
        Choice(f"trees:{n}", Msg(N_("pledge.trees_label"), {"n": n})) for n in QUICK_TARGETS
    )
    return Reply(Msg(N_("team.ask_target")), choices, numeric=True)


async def answer_target(ctx: Ctx, draft: TeamDraft, answer: Answer) -> Outcome:
    target = whole_number(answer)
    if isinstance(target, Msg):
        return Again(target)
    if target > MAX_TARGET:
        return Again(Msg(N_("team.target_too_big"), {"max": MAX_TARGET}))
    made = await ctx.teams.create(ctx.user, draft.name, draft.base, target, ctx.local_year())
    if isinstance(made, Refusal):
        return End((refused(made),))
    params: dict[str, Param] = {
        "team": made.name,
        "code": made.code,
        "link": ctx.teams.link(made),
    }
    return End((Reply(Msg(N_("team.created"), params), qr=ctx.teams.link(made)),))


async def begin_join(ctx: Ctx, draft: TeamDraft) -> Outcome:
    """/join CODE joins at once; /join alone asks for the code."""
    if draft.arg.strip():
        return await _join(ctx, draft.arg)
    return Next("ask_code")


async def ask_code(ctx: Ctx, draft: TeamDraft) -> Reply:
    """The team's join code?"""
    return Reply(Msg(N_("team.ask_code")))


async def answer_code(ctx: Ctx, draft: TeamDraft, answer: Answer) -> Outcome:
    if not answer.text.strip():
        return Again(Msg(N_("team.ask_code")))
    return await _join(ctx, answer.text)


async def _join(ctx: Ctx, code: str) -> Outcome:
    joined = await ctx.teams.join(ctx.user, code, ctx.local_year())
    if isinstance(joined, Team):
        return End((Reply(Msg(N_("team.joined"), {"team": joined.name})),))
    if joined == Refusal.UNKNOWN:
        return Again(Msg(N_("team.unknown"), {"code": ctx.teams.clean_code(code)[:12]}))
    return End((refused(joined),))


REFUSED = {
    Refusal.UNKNOWN: N_("team.refused_unknown"),
    Refusal.IN_ANOTHER: N_("team.refused_in_another"),
    Refusal.ALREADY: N_("team.refused_already"),
    Refusal.FULL: N_("team.refused_full"),
    Refusal.PAST: N_("team.refused_past"),
}


def refused(why: Refusal) -> Reply:
    """Why a team could not be made or joined."""
    return Reply(Msg(REFUSED[why]))


async def ask_in_team(ctx: Ctx, draft: TeamDraft) -> Reply:
    """Leave the team?"""
    return Reply(Msg(N_("team.what_next")), (Choice("team:leave", Msg(N_("team.leave"))),))


async def answer_in_team(ctx: Ctx, draft: TeamDraft, answer: Answer) -> Outcome:
    if answer.choice_id != "team:leave":
        return Again(Msg(N_("team.pick")))
    return Next("confirm_leave")


async def ask_confirm_leave(ctx: Ctx, draft: TeamDraft) -> Reply:
    """Really leave?"""
    return Reply(Msg(N_("team.ask_leave")), (Choice("team:leave_yes", Msg(N_("team.leave"))),))


async def answer_confirm_leave(ctx: Ctx, draft: TeamDraft, answer: Answer) -> Outcome:
    if answer.choice_id != "team:leave_yes":
        return Again(Msg(N_("team.pick")))
    left = await ctx.teams.leave(ctx.user, ctx.local_year())
    key = N_("team.left") if left else N_("team.none")
    return End((Reply(Msg(key, {"team": left.name if left else ""})),))


TEAM = Flow(
    name="team",
    data=TeamDraft,
    begin=begin_team,
    steps={
        "start": Step(ask_start, answer_start),
        "ask_name": Step(ask_name, answer_name),
        "ask_base": Step(ask_base, answer_base),
        "ask_target": Step(ask_target, answer_target),
        "ask_code": Step(ask_code, answer_code),
        "in_team": Step(ask_in_team, answer_in_team),
        "confirm_leave": Step(ask_confirm_leave, answer_confirm_leave),
    },
)
JOIN = Flow(
    name="join",
    data=TeamDraft,
    begin=begin_join,
    steps={"ask_code": Step(ask_code, answer_code)},
)
