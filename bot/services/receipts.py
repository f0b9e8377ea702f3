"""Reading the official channel's receipts (`python -m bot payments import FILE.csv`).

Columns reference, amount_yuan, paid_at, receipt_no, in any order; UTF-8 with or without a BOM,
or GBK as Chinese Excel saves it. The whole file is checked first, streaming: a wrong column,
a bad amount, a missing field or a receipt number seen twice stops the import naming every bad
line (the first MAX_ERRORS of them), and nothing is imported. Then it is read again, streaming,
for the import itself, so a file of any length takes little memory.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import tempfile
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bot.errors import CommandError
from bot.store.payments import Receipt

COLUMNS = ("reference", "amount_yuan", "paid_at", "receipt_no")
ENCODINGS = ("utf-8-sig", "gb18030")  # gb18030 reads everything GBK wrote
MAX_ERRORS = 20
MAX_FIELD = 200


def _rows(path: Path, encoding: str) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(encoding=encoding, newline="") as source:
        reader = csv.DictReader(source)
        header = [name.strip().lower() for name in reader.fieldnames or ()]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            found = ", ".join(header) or "nothing"
            raise CommandError(
                f"{path}: the first line must name the columns {', '.join(COLUMNS)}; "
                f"missing {', '.join(missing)} (found {found})"
            )
        reader.fieldnames = header
        for row in reader:
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}


def _receipt(row: dict[str, str]) -> Receipt | str:
    """The receipt of a row, or what is wrong with it."""
    empty = [c for c in COLUMNS if not row.get(c)]
    if empty:
        return f"empty {', '.join(empty)}"
    if any(len(row[c]) > MAX_FIELD for c in COLUMNS):
        return f"a field longer than {MAX_FIELD} characters"
    try:
        amount = Decimal(row["amount_yuan"].replace(",", ""))
    except InvalidOperation:
        return f"amount_yuan {row['amount_yuan']!r} is not a number"
    if not amount.is_finite() or amount <= 0:
        return f"amount_yuan {row['amount_yuan']!r} must be more than 0"
    reference = row["reference"].upper().replace(" ", "")
    return Receipt(reference, int(amount), row["paid_at"], row["receipt_no"])


def _encoding(path: Path) -> str:
    for encoding in ENCODINGS:
        try:
            with path.open(encoding=encoding) as source:
                for _ in source:
                    pass
            return encoding
        except UnicodeDecodeError:
            continue
    raise CommandError(f"{path}: not UTF-8 or GBK text; save it as CSV (UTF-8) and try again")


def check(path: Path) -> tuple[str, int]:
    """Check the whole file; its encoding and how many receipts it holds. Raises CommandError
    naming the bad lines."""
    if not path.is_file():
        raise CommandError(f"{path}: no such file")
    encoding = _encoding(path)
    errors: list[str] = []
    seen: dict[bytes, int] = {}
    count = 0
    try:
        for line, row in _rows(path, encoding):
            if not any(row.values()):
                continue  # a blank line
            found = _receipt(row)
            digest = hashlib.blake2b(row.get("receipt_no", "").encode(), digest_size=12).digest()
            if isinstance(found, str):
                errors.append(f"line {line}: {found}")
            elif digest in seen:
                errors.append(
                    f"line {line}: receipt_no {found.receipt_no} repeats line {seen[digest]}"
                )
            else:
                seen[digest] = line
                count += 1
    except csv.Error as exc:
        raise CommandError(f"{path}: not a readable CSV file ({exc})") from None
    if errors:
        more = f"\n... and {len(errors) - MAX_ERRORS} more" if len(errors) > MAX_ERRORS else ""
        shown = "\n".join(errors[:MAX_ERRORS])
        raise CommandError(f"{path}: nothing imported; fix these lines:\n{shown}{more}")
    return encoding, count


def read(path: Path, encoding: str) -> Iterator[tuple[int, Receipt]]:
    """The receipts of a checked file, with their line numbers, one at a time."""
    for line, row in _rows(path, encoding):
        found = _receipt(row)
        if isinstance(found, Receipt):
            yield line, found


@contextlib.contextmanager
def as_file(data: bytes, folder: Path) -> Iterator[Path]:
    """Uploaded bytes as a file for the checks above (removed afterwards)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".csv", delete=False) as out:
        out.write(data)
        path = Path(out.name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
