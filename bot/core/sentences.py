"""The sentences of a passage, as character spans.

The grounded answerer quotes whole sentences, so it needs each passage's sentence boundaries (and a
vector per sentence, `bot.core.vectors`). Both are computed once, at ingest (`ingest.pipeline`), and
stored beside the chunk; computing them per question was most of an answer's cost.
"""

from __future__ import annotations

import re

from bot.core.segmenter import segment


def _locate(text: str, sentences: list[str]) -> list[tuple[int, int]]:
    """Where pysbd's sentences lie in `text`, with trailing whitespace, as its `char_span` option
    finds them (the first occurrence ending past the previous sentence), but with `str.find`:
    pysbd compiles a regex per sentence, which was a third of its time."""
    spans: list[tuple[int, int]] = []
    prior = 0
    for sentence in sentences:
        at = 0
        while (at := text.find(sentence, at)) >= 0:
            end = _TRAILING_SPACE.match(text, at + len(sentence)).end()
            if end > prior:
                spans.append((at, end))
                prior = end
                break
            at = max(end, at + 1)
    return spans


_TRAILING_SPACE = re.compile(r"\s*")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of a passage's sentences, whitespace trimmed, never across a
    blank line (a heading or list item is its own sentence). A sentence does not end inside
    parentheses: pysbd splits "(Minn. Stat. § 13.824)" after "Minn.", so such pieces are joined."""
    spans: list[tuple[int, int]] = []
    for paragraph in re.finditer(r"[^\n]+(?:\n(?!\s*\n)[^\n]+)*", text):
        base, first = paragraph.start(), len(spans)
        body = _unwrap(paragraph.group()).translate(INVISIBLE)
        for start, end in _locate(body, segment(body)):
            raw = body[start:end]
            start, end = base + start + len(raw) - len(raw.lstrip()), base + start + len(raw.rstrip())
            if end <= start:
                continue
            if len(spans) > first and _unclosed(text[spans[-1][0] : spans[-1][1]]):
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
    return spans


# Invisible format characters, seen by pysbd as spaces (same length, so offsets still hold): the
# Atlas of Surveillance writes "The \u200bSt. Paul Police Department", and pysbd, which knows
# "St." as an abbreviation only after a space, split the sentence after it
INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"), " ")


def _unwrap(paragraph: str) -> str:
    """Line breaks inside a sentence (PDF text is wrapped at the page width) as spaces, so pysbd
    does not take every line for a sentence; same length, so offsets still hold. A line that ends
    a sentence, a short line, a heading in capitals and the line before a list item keep theirs."""
    lines = paragraph.split("\n")
    joints = [" " if _wrapped(line, after) else "\n" for line, after in zip(lines, lines[1:])]
    return "".join(line + joint for line, joint in zip(lines, [*joints, ""]))


def _wrapped(line: str, after: str) -> bool:
    text = line.rstrip()
    return len(text) >= 30 and text[-1] not in ".!?:;" and not text.isupper() and not LIST_ITEM.match(after)


LIST_ITEM = re.compile(r"[ \t]*(?:\(?[a-z0-9]{1,3}[.)]|[-•*–])\s")


def _unclosed(sentence: str) -> bool:
    return sentence.count("(") > sentence.count(")")
