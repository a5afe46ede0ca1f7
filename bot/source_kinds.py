"""What kind of source a document is: official, audit, vendor, news, advocacy, dataset, explainer.

A resident weighs "the police department says" differently from "an audit found" or "the ACLU
says", and a disagreement is only worth showing side by side when its sides are different kinds
of source. The kind comes from the document's `doc_type` first (staff set it), then from words of
its publisher, title and doc_id (what staff gave, or what the file says of itself).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.core.vocabulary import SOURCE_KINDS

BY_DOC_TYPE = {
    "policy": "official", "ordinance": "official", "statute": "official",
    "records-response": "official", "dataset": "dataset", "explainer": "explainer", "faq": "explainer",
    "news": "news",
}  # fmt: skip
CUES = (  # in order: the first kind whose words appear in the publisher, else the title and doc_id
    ("audit", r"\baudits?\b|\binspector general\b|\bauditor\b"),
    ("news", r"\bnews\d*\b|\btimes\b|\bpost\b|\bcourant\b|\btribune\b|\bcalmatters\b|\bmarkup\b|\bwtnh\b|"
             r"\bkshb\b|\bcbs\d*\b|\bnbc\b|\babc\b|\bmasslive\b|public radio|\bmainepublic\b|"
             r"\bvillagesoup\b|\bfosters\b|\bdaily\b|\bjournal\b|\bherald\b|\bgazette\b|\bpatch\b"),
    ("advocacy", r"\baclu\b|\beff\b|electronic frontier|privacy international|\bdeflock\b|\bmuckrock\b|"
                 r"surveillance technology oversight|\bcoalition\b|\bepic\b"),
    ("analysis", r"\bblog\b|musings|\bsubstack\b|junkie|\bmedium\b"),
    ("official", r"\bpolice\b|\bsheriff|\bpd\b|\bso\b|\bcity of\b|\bcounty\b|\bdepartment\b|\bstatute\b|"
                 r"\bcode\b|\bordinance\b|\bpolicy\b|\bdhs\b|\bice\b|attorney general|\bstate of\b|"
                 r"transparency portal|\bmanual\b|\bdirective\b|\brsa\b|\bbca\b|\bcontract\b|"
                 r"\bcity manager\b|\bcouncil\b|\blegislature\b|\bhouse\b|\bsenate\b|\bcjis\b|\bfdle\b"),
    ("vendor", r"\bflock( safety)?\b|\bvigilant\b|\baxon\b|\bmotorola\b|\bthomson reuters\b|"
               r"\blexisnexis\b|\bclearview\b|\bshotspotter\b|\bsoundthinking\b"),
)  # fmt: skip
_CUES = [(kind, re.compile(pattern, re.I)) for kind, pattern in CUES]


def source_kind(meta: Mapping[str, Any]) -> str:
    """The kind of a document, from its metadata (a chunk's or a registry record's)."""
    if meta.get("source_kind") in SOURCE_KINDS:
        return str(meta["source_kind"])
    if (kind := BY_DOC_TYPE.get(str(meta.get("doc_type", "")))) is not None:
        return kind
    for fields in (("publisher",), ("title", "doc_id")):
        words = " ".join(str(meta.get(k, "")) for k in fields).replace("-", " ")
        if kind := next((kind for kind, cue in _CUES if cue.search(words)), None):
            return kind
    return "other"


def source_label(meta: Mapping[str, Any]) -> str:
    """Who says it, for a side of a disagreement: the publisher, else the title."""
    return str(meta.get("publisher") or meta.get("title") or meta.get("doc_id") or "a source")
