"""Tables as rows: every row one line, "Header: value; Header: value".

A table flattened the usual way (cells run together in reading order) loses which value belongs
to which column, and its rows are not units anyone can quote: "Agency State Since Eugene PD OR
2021 ...". Here each row becomes one self-contained line that names its columns, so a row is
retrieved, quoted and cited on its own (the answerer takes a "Label: value; ..." line as one unit,
`bot.core.units`), and it keeps its page and offsets like any other line. A table block is set off by
blank lines so the chunker keeps its rows whole and apart from the paragraphs around it.

The header is the first row when it reads like one (short labels, not numbers, not like the
values below them; an HTML table says which row it is); a table that
continues on the next page without repeating it keeps the previous one. A row with one filled
cell (a group label inside the table) is that cell alone; a headerless table's cells are joined
with "; ".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

Cell = str | None
NUMBERISH = re.compile(r"^[\s$€£%#.,:/()\-–+0-9]*$")
MD_ROW = re.compile(r"^\|(.*)\|\s*$")
LIKE_VALUES = 0.3  # a label whose last word ends this share of its column's values is a value
PARTIAL_MIN_CHARS = 20  # a shorter cell inside a longer one ("1" in "2021") is its own value
MD_RULE = re.compile(r"^\|(\s*:?-{3,}:?\s*\|)+\s*$")


def clean(cell: Cell) -> str:
    """A cell's text on one line."""
    return " ".join((cell or "").split())


def looks_like_header(row: Sequence[str], body: Sequence[Sequence[str]] = ()) -> bool:
    """Short labels, none a number, none like the values under it: a list of names in two
    columns ("CBP - NTC", "Cedar Rapids Police Department" over "Chino Police Department") has no
    header, and taking its first row for one would prefix every row with two agency names."""
    filled = [c for c in row if c]
    if len(filled) < 2 or not all(len(c) <= 60 and not NUMBERISH.match(c) for c in filled):
        return False
    for i, label in enumerate(row):
        column = [r[i] for r in body if i < len(r) and r[i]]
        last = label.split()[-1].lower() if label else ""
        if (
            last
            and column
            and sum(c.split()[-1].lower() == last for c in column) >= LIKE_VALUES * len(column)
        ):
            return False
    return True


def _repeats(j: int, named: list[tuple[str, str]]) -> bool:
    """Whether cell j only repeats another cell of its row: the same text (the copy under a header
    name is kept, else the first), or a wrapped line of a longer cell (a PDF's nested grid)."""
    name, cell = named[j]
    for k, (other_name, other) in enumerate(named):
        if k == j:
            continue
        if cell == other and ((not name and other_name) or (bool(name) == bool(other_name) and k < j)):
            return True
        if cell != other and len(cell) >= PARTIAL_MIN_CHARS and cell in other:
            return True
    return False


def row_line(header: Sequence[str] | None, row: Sequence[str]) -> str:
    """One row as a line: "Header: value; Header: value", without empty cells and cells that only
    repeat another."""
    named = [(header[i] if header and i < len(header) else "", c) for i, c in enumerate(row) if c]
    kept = [named[j] for j in range(len(named)) if not _repeats(j, named)]
    if len(kept) == 1:
        return kept[0][1]
    return "; ".join(cell if not name or name == cell else f"{name}: {cell}" for name, cell in kept)


def _merge_spans(rows: list[list[Cell]]) -> list[list[Cell]]:
    """pdfplumber marks a cell covered by the one above with None: such a row continues the one
    before it (a cell's wrapped lines), so its text is appended there."""
    merged: list[list[Cell]] = []
    for row in rows:
        if merged and row and row[0] is None and len(row) == len(merged[-1]):
            last = merged[-1]
            for i, cell in enumerate(row):
                if cell:
                    last[i] = f"{last[i] or ''} {cell}".strip()
        else:
            merged.append(list(row))
    return merged


def table_lines(
    rows: Iterable[Sequence[Cell]], header: Sequence[str] | None = None
) -> tuple[list[str], list[str] | None]:
    """A table's rows as lines, and the header it used (to continue a table on the next page).
    `header` is a previous page's header, used when this table's first row is not one."""
    cleaned = [[clean(c) for c in row] for row in _merge_spans([list(r) for r in rows])]
    cleaned = [r for r in cleaned if any(r)]
    if not cleaned:
        return [], header
    if looks_like_header(cleaned[0], cleaned[1:]):
        header, cleaned = cleaned[0], cleaned[1:]
    elif header is not None and len(header) != len(cleaned[0]):
        header = None
    lines = [line for row in cleaned if (line := row_line(header, row))]
    return lines, header


def markdown_tables_as_rows(text: str) -> str:
    """Markdown tables ("| a | b |" lines with a "|---|" rule, as trafilatura writes an HTML
    table) as row lines, set off by blank lines; everything else unchanged."""
    out: list[str] = []
    block: list[list[str]] = []
    has_rule = False

    def close() -> None:
        nonlocal has_rule
        if block:
            header = block[0] if has_rule and len(block) > 1 else None
            body = block[1:] if header else block
            lines = [line for row in body if (line := row_line(header, row))]
            if lines:
                out.extend(["", *lines, ""])
        block.clear()
        has_rule = False

    for line in text.split("\n"):
        if MD_RULE.match(line):
            has_rule = has_rule or len(block) == 1
            continue
        if m := MD_ROW.match(line):
            block.append([clean(c) for c in m.group(1).split("|")])
            continue
        close()
        out.append(line)
    close()
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")
