"""What can be told about a question without an LLM: the names it mentions, and follow-ups.

A follow-up ("What about Westport?", "How long do they keep it?") retrieves nothing useful on its
own. Without an LLM it is made standalone by carrying the earlier question forward: a new place
replaces the old one ("Does Westport share plate data with ICE?"), otherwise the earlier
question's subject is appended. With an LLM configured, the chain asks the model instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

NAME = re.compile(r"\b[A-Z][A-Za-z'’.-]*[A-Za-z]\b(?:\s+[A-Z][A-Za-z'’.-]*[A-Za-z]\b)*")
OPENERS = frozenset(
    "does do did is are was were can could should would will what which who whom whose when where "
    "why how has have had i my we our the a an in on for if and but or so tell please any there "
    "please list show give explain".split()
)
WHAT_ABOUT = re.compile(r"^\s*(?:and|but|ok(?:ay)?|so)?[\s,]*(?:what|how)\s+about\s+(.+?)\s*\??\s*$", re.I)
REFERS_BACK = re.compile(
    r"\b(they|them|their|theirs|it|its|there|that|those|these|this|he|she|his|her|same|also|too|"
    r"either|instead)\b",
    re.I,
)


def names_in(text: str) -> list[str]:
    """Runs of capitalised words that look like names ("New Haven"), without question openers."""
    found: list[str] = []
    for match in NAME.finditer(text):
        parts = match.group().split()
        while parts and parts[0].lower() in OPENERS:
            parts.pop(0)
        name = " ".join(parts).strip(".'’")
        name = re.sub(r"['’]s$", "", name)
        if name and name not in found:
            found.append(name)
    return found


def _is_acronym(word: str) -> bool:
    return word.isupper() and len(word) <= 6


def is_follow_up(question: str, history: Sequence[dict]) -> bool:
    """A question that leans on the conversation: 'what about X', a pronoun, or very short."""
    if not any(turn.get("role") == "user" for turn in history):
        return False
    words = re.findall(r"[A-Za-z']+", question)
    return (
        bool(WHAT_ABOUT.match(question))
        or len(words) <= 3
        or (len(words) <= 10 and bool(REFERS_BACK.search(question)))
    )


def standalone(question: str, history: Sequence[dict]) -> str:
    """Rewrite a follow-up as a question that can be understood on its own."""
    previous = ""
    for turn in history:  # earlier follow-ups are resolved in order
        if turn.get("role") == "user" and turn.get("content"):
            previous = _resolve(turn["content"], previous)
    return _resolve(question, previous) if previous else question


def _resolve(question: str, previous: str) -> str:
    if not previous or not is_follow_up(question, [{"role": "user", "content": previous}]):
        return question
    about = WHAT_ABOUT.match(question)
    new_places = [n for n in names_in(question) if not _is_acronym(n)]
    old_places = [n for n in names_in(previous) if not _is_acronym(n)]
    if about and new_places and old_places:
        rewritten = previous
        for i, old in enumerate(old_places):
            rewritten = rewritten.replace(old, new_places[min(i, len(new_places) - 1)])
        return rewritten
    if about:
        return f"{previous.rstrip(' ?')} — {about.group(1)}?"
    return f"{question.rstrip()} ({previous.rstrip(' ?')})"
