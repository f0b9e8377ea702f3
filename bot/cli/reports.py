"""`stats` and `export pledges`: figures per base and form, and pledges as CSV."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TextIO

from bot.cli.kit import Subcommands, command, group, with_runtime

if TYPE_CHECKING:
    from bot.runtime import Runtime
    from bot.services.stats import Period


def register(commands: Subcommands) -> None:
    """Add `stats` and the `export` group."""
    _period_options(
        command(commands, "stats", "figures per base and form", with_runtime(show_stats))
    )
    export = group(commands, "export", "exports for reports (CSV)")
    about = "pledges as CSV (UTF-8 with BOM), no names"
    pledges = _period_options(command(export, "pledges", about, with_runtime(export_pledges)))
    pledges.add_argument("-o", "--output", default="-", help="a file (default: standard output)")


def _period_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--from", dest="since", help="first day, YYYY-MM-DD (Asia/Shanghai)")
    parser.add_argument("--to", dest="until", help="last day, YYYY-MM-DD")
    parser.add_argument("--base", help="one base id")
    return parser


def _period(runtime: Runtime, args: argparse.Namespace) -> Period:
    from bot.services.stats import Period

    return Period.parse(runtime.catalog, args.since, args.until, args.base)


async def show_stats(runtime: Runtime, args: argparse.Namespace) -> None:
    """Pledges by status, trees fulfilled, amounts paid and claims waiting, per base and form."""
    from bot.services import stats

    period = _period(runtime, args)
    lines = await stats.stats(runtime.pledges, runtime.payments, runtime.claims, period)
    print("\n".join(lines))


async def export_pledges(runtime: Runtime, args: argparse.Namespace) -> None:
    """Pledges as CSV, UTF-8 with BOM so that Excel opens it."""
    from bot.services import exports

    export = exports.Export(exports.Kind.PLEDGES, _period(runtime, args))
    with _csv_output(args.output) as out:
        count = await exports.write_csv(exports.rows(runtime, export), out)
    print(f"{count} pledges exported", file=sys.stderr)


def _csv_output(name: str) -> TextIO:
    """A file (or standard output, "-") to write CSV to, UTF-8 with BOM."""
    if name == "-":
        return open(sys.stdout.fileno(), "w", encoding="utf-8-sig", newline="", closefd=False)
    return open(name, "w", encoding="utf-8-sig", newline="")
