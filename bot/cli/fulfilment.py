"""`payments import|refund|flagged` and `claims list|show|approve|reject`: donations paid
and claims with evidence, from the command line.

An admin at the terminal is `cli:<login name>` in the histories and decisions they write.
Bad input stops with a message that names the problem (CommandError) and changes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, assert_never

from bot.cli.kit import Subcommands, admin_id, cli_actor, command, group, with_runtime
from bot.errors import CommandError

if TYPE_CHECKING:
    from bot.runtime import Runtime
    from bot.store.claims import Claim


def register(commands: Subcommands) -> None:
    """Add the `payments` and `claims` groups."""
    payments = group(commands, "payments", "donations: receipts, refunds")
    about = "fulfil the pledges a receipts CSV pays (reference,amount_yuan,paid_at,receipt_no)"
    command(payments, "import", about, with_runtime(payments_import), "file")
    about = "refund a pledge paid by WeChat Pay; its certificate is then revoked"
    refund_it = command(payments, "refund", about, with_runtime(payments_refund), "pledge")
    refund_it.add_argument("--reason", required=True)
    command(payments, "flagged", "payments to look at", with_runtime(payments_flagged))
    claims = group(commands, "claims", "claims with evidence: review")
    command(claims, "list", "claims waiting for review", with_runtime(claims_list))
    command(claims, "show", "one claim and its photo", with_runtime(claims_show), "id")
    about = "approve: fulfil the pledge, send the certificate"
    command(claims, "approve", about, with_runtime(claims_approve), "id")
    about = "reject with a reason the citizen is told"
    reject = command(claims, "reject", about, with_runtime(claims_reject), "id")
    reject.add_argument("--reason", required=True)


async def payments_import(runtime: Runtime, args: argparse.Namespace) -> None:
    """Fulfil the pledges a receipts CSV pays (link-out donations)."""
    print("\n".join(await import_receipts(runtime, Path(args.file))))


async def payments_refund(runtime: Runtime, args: argparse.Namespace) -> None:
    """Refund a pledge paid by WeChat Pay."""
    print(await refund(runtime, args.pledge, args.reason))


async def payments_flagged(runtime: Runtime, args: argparse.Namespace) -> None:
    """Payments to look at: late, mismatched, for a pledge no longer waiting."""
    print("\n".join(await flagged(runtime)) or "nothing flagged")


async def claims_list(runtime: Runtime, args: argparse.Namespace) -> None:
    """The claims waiting for review."""
    print("\n".join(await list_claims(runtime)))


async def claims_show(runtime: Runtime, args: argparse.Namespace) -> None:
    """One claim and its photo."""
    print("\n".join(await show_claim(runtime, args.id)))


async def claims_approve(runtime: Runtime, args: argparse.Namespace) -> None:
    """Approve a claim: the pledge is fulfilled and its certificate sent."""
    print(await decide(runtime, args.id, True, ""))


async def claims_reject(runtime: Runtime, args: argparse.Namespace) -> None:
    """Reject a claim with a reason the citizen is told."""
    print(await decide(runtime, args.id, False, args.reason))


async def import_receipts(runtime: Runtime, path: Path) -> list[str]:
    """Check the whole file, then fulfil the pledges it pays; what happened, line by line for
    what did not match."""
    from bot import i18n
    from bot.services import receipts
    from bot.services.payments import miss_kind

    encoding, count = receipts.check(path)
    report = await runtime.payments.import_receipts(receipts.read(path, encoding))
    missed = sum(report.not_matched.values())
    lines = [
        f"{count} receipts read ({encoding}): {report.fulfilled} pledges fulfilled, "
        f"{report.already} imported before (unchanged), {missed} not matched"
    ]
    if missed:
        kinds = (f"{n} {i18n.render(miss_kind(k), 'en')}" for k, n in report.not_matched.items())
        lines.append("not matched: " + ", ".join(kinds))
    lines += [
        f"  line {line}: {r.reference} {r.amount_yuan} yuan (receipt {r.receipt_no}): "
        + i18n.render(miss.why, "en")
        for line, r, miss in report.unmatched
    ]
    if missed > len(report.unmatched):
        lines.append(f"  ... the first {len(report.unmatched)} of {missed} shown")
    return lines


async def refund(runtime: Runtime, pledge_id: str, reason: str) -> str:
    """Ask WeChat Pay to refund a paid pledge."""
    order = await runtime.payments.refund(pledge_id, reason, admin_id())
    return (
        f"refund {order.refund_no} of {order.amount_fen / 100:.2f} yuan asked for pledge "
        f"{pledge_id}; its certificate is revoked when WeChat Pay confirms the refund"
    )


async def flagged(runtime: Runtime) -> list[str]:
    """Payments an admin should look at, newest first."""
    return await runtime.payments.flagged("en")


def _summary(runtime: Runtime, claim: Claim, name: str) -> str:
    from bot.services.names import mask_name

    catalog = runtime.catalog
    day = catalog.local_minute(claim.created)
    where = f"{catalog.base_name(claim.base, 'zh')} · {catalog.form_name(claim.form, 'zh')}"
    return f"{claim.id}\t{day}\t{where}\t{mask_name(name)}\t{claim.status}"


async def list_claims(runtime: Runtime) -> list[str]:
    """The claims waiting for review, oldest first."""
    lines = []
    for claim in await runtime.claims.waiting(limit=500):
        pledge = await runtime.pledges.get(claim.user_key, claim.pledge_id)
        lines.append(_summary(runtime, claim, pledge.name if pledge else "?"))
    return lines or ["no claims waiting"]


async def show_claim(runtime: Runtime, claim_id: str) -> list[str]:
    """One claim: what it is for, its note, its decision, and where to see its photo (a signed
    link, and a copy written under BOT_DATA_DIR/evidence for this terminal)."""
    claim = await _claim(runtime, claim_id)
    pledge = await runtime.pledges.get(claim.user_key, claim.pledge_id)
    lines = [_summary(runtime, claim, pledge.name if pledge else "?")]
    if pledge is not None:
        lines.append(f"pledge {pledge.id}: {pledge.trees} trees, {pledge.status}")
    if claim.note:
        lines.append(f"note: {claim.note}")
    if claim.decided:
        lines.append(f"decided {claim.decided} by {claim.decided_by} {claim.reason}".rstrip())
    photo = await runtime.claims.photo(claim_id)
    if photo is None:
        lines.append("photo: no longer kept")
    else:
        folder = runtime.settings.data_dir / "evidence"
        folder.mkdir(parents=True, exist_ok=True)
        copy = folder / f"{claim_id}.jpg"
        copy.write_bytes(photo)
        lines += [f"photo: {copy}", f"link: {runtime.claims.photo_link(claim_id)}"]
    return lines


async def _claim(runtime: Runtime, claim_id: str) -> Claim:
    claim = await runtime.claims.get(claim_id)
    if claim is None:
        raise CommandError(f"there is no claim {claim_id!r}")
    return claim


async def decide(runtime: Runtime, claim_id: str, approve: bool, reason: str) -> str:
    """Approve or reject a claim (a rejection needs a reason the citizen is told)."""
    from bot.services.claims import Decision

    match await runtime.claims.decide(claim_id, approve, cli_actor(), reason):
        case Decision.DONE:
            done = "approved" if approve else "rejected"
            return f"claim {claim_id} {done}; the citizen's notice is queued for delivery"
        case Decision.NEEDS_REASON:
            raise CommandError("a rejection needs a reason (--reason), which the citizen is told")
        case Decision.UNKNOWN:
            raise CommandError(f"there is no claim {claim_id!r}")
        case Decision.ALREADY:
            decided = await _claim(runtime, claim_id)
            raise CommandError(
                f"claim {claim_id} was already {decided.status} by {decided.decided_by}"
            )
        case _ as never:
            assert_never(never)
