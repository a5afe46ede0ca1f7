"""Quotable units of a passage: its sentences, and the facts that are not sentences.

Transparency portals, policy manuals, contracts and audit tables state many facts as a label line
and its value on the next line ("Data retention (in days)" / "30 days"), as list items that end in
a semicolon or nothing, as "Label: value" lines, or as table rows ("Agency: Eugene PD; State: OR").
A sentence splitter cannot make quotable sentences of them, so the fact is retrieved and never
quoted. Here each becomes a unit of its own, beside the passage's sentences. Every unit is a
(start, end) span of the passage text, so a quote stays a verbatim, offset-checked substring; its
vector is computed at ingest like a sentence's (late chunking over the same forward pass).

`kind_of` tells the answerer what a unit is from its text alone, so stores built before units
existed (sentences only) still answer the same way.
"""

from __future__ import annotations

import re
from typing import Literal

from bot.core.sentences import LIST_ITEM, sentence_spans

Kind = Literal["sentence", "pair", "field", "item"]
LABEL_MAX_CHARS, LABEL_MAX_WORDS = 80, 10
VALUE_MAX_CHARS = 600  # a longer value (a list of 900 agencies) is cut at a comma before this
FIELD = re.compile(r"^[A-Z(][^:\n]{1,60}:\s+\S")  # "Retention period: 30 days", a table row's first cell
LINE = re.compile(r"[^\n]*\S[^\n]*")
END = ".!?;,"


# a line ending in one of these is cut out of a sentence, never a label ("During a preliminary
# search, the" / "City identified 2,637 lines"); "Loaded By" and "Hotlists Alerted On" are labels
FRAGMENT_ENDS = frozenset(
    "the a an and or but nor of to for with at in from than as if that which who is are was were be been "
    "has have had will shall may must can should would could".split()
)
PAIR_MAX_WORDS = 4  # a label of more words over a value in lower case is a wrapped sentence


def _label(line: str) -> bool:
    """A short line that names what the next line gives: no sentence end, few words, not an item,
    not ending on a word that leads into more of a sentence."""
    text = line.strip()
    return (
        0 < len(text) <= LABEL_MAX_CHARS
        and len(words := text.split()) <= LABEL_MAX_WORDS
        and text[-1] not in END
        and (text[0].isupper() or text[0].isdigit())
        and not LIST_ITEM.match(line)
        and words[-1].lower() not in FRAGMENT_ENDS
    )


def _wrapped_sentence(label: str, value: str) -> bool:
    """A PDF's wrapped lines, not a label and its value ("Employees will record the entire event
    unless specifically" / "instructed otherwise by this manual section.")."""
    return len(label.split()) > PAIR_MAX_WORDS and value.lstrip()[:1].islower()


def _cut(text: str, start: int, end: int) -> int:
    """`end`, or the last list separator before `VALUE_MAX_CHARS` for a long value."""
    if end - start <= VALUE_MAX_CHARS:
        return end
    limit = start + VALUE_MAX_CHARS
    cut = max(text.rfind(", ", start, limit), text.rfind("; ", start, limit))
    return cut if cut > start else limit


def line_units(text: str) -> list[tuple[int, int]]:
    """Label/value pairs, "Label: value" lines and list items (with their wrapped lines)."""
    lines = [(m.start(), m.end()) for m in LINE.finditer(text)]
    units: list[tuple[int, int]] = []
    i = 0
    while i < len(lines):
        start, end = lines[i]
        line = text[start:end]
        adjacent = i + 1 < len(lines) and text.count("\n", end, lines[i + 1][0]) == 1
        if LIST_ITEM.match(line):
            j = i  # an item goes on over wrapped lines until the next item or a blank line
            while (
                j + 1 < len(lines)
                and text.count("\n", lines[j][1], lines[j + 1][0]) == 1
                and not LIST_ITEM.match(text[lines[j + 1][0] : lines[j + 1][1]])
                and not _label(text[lines[j + 1][0] : lines[j + 1][1]])
            ):
                j += 1
            units.append((start + len(line) - len(line.lstrip()), _cut(text, start, lines[j][1])))
            i = j + 1
            continue
        if (
            _label(line)
            and adjacent
            and not FIELD.match(line)
            and not LIST_ITEM.match(text[lines[i + 1][0] :])
            and not _wrapped_sentence(line, text[lines[i + 1][0] : lines[i + 1][1]])
        ):
            v_start, v_end = lines[i + 1]
            value = text[v_start:v_end]
            after = text[lines[i + 2][0] : lines[i + 2][1]] if i + 2 < len(lines) else ""
            # a short value ("License Plates, Vehicles") is told from the next label by what follows
            # it: a label is followed by its value, a value by the next label (or nothing)
            if not _label(value) or value.strip()[0].isdigit() or not after or _label(after):
                first = sentence_spans(value)
                stop = v_start + first[0][1] if first and v_end - v_start > VALUE_MAX_CHARS else v_end
                units.append((start + len(line) - len(line.lstrip()), _cut(text, v_start, stop)))
                i += 2
                continue
        if FIELD.match(line.strip()) and ". " not in line.strip():  # a record of sentences is split as such
            units.append((start + len(line) - len(line.lstrip()), _cut(text, start, end)))
        i += 1
    return [(s, e) for s, e in units if text[s:e].strip()]


def answer_units(text: str) -> list[tuple[int, int]]:
    """Every quotable unit of a passage in reading order: sentences, then the line units that
    are not already one of them."""
    sentences = sentence_spans(text)
    known = set(sentences)
    units = sentences + [u for u in line_units(text) if u not in known]
    return sorted(units)


def kind_of(text: str) -> Kind:
    """What a unit is, from its own text (a unit of a label line and its value holds a newline)."""
    stripped = text.strip()
    if LIST_ITEM.match(text):
        return "item"
    if "\n" in stripped and _label(stripped.split("\n", 1)[0]):
        return "pair"
    if FIELD.match(stripped) and stripped[-1] not in ".!?":
        return "field"
    return "sentence"


def display(text: str) -> str:
    """A unit as the answer shows it: whitespace runs as one space; a label and its value as
    "Label: value"."""
    if kind_of(text) == "pair":
        label, value = text.strip().split("\n", 1)
        return f"{' '.join(label.split()).rstrip(':')}: {' '.join(value.split())}"
    return " ".join(text.split())
