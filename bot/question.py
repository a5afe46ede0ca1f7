"""What can be told about a question without an LLM: the names it mentions, and follow-ups.

A follow-up ("What about Westport?", "Who can they share it with?", "And who signs off?")
retrieves nothing useful on its own. Without an LLM it is made standalone by carrying the
conversation's *subject* forward: a new place replaces the old one ("What about Westport?" after a
Norwalk question asks the Norwalk question of Westport); otherwise the places, agencies and systems
of the earlier turns (the resident's question, then the answer they were given) are added to it,
not the earlier question's whole wording, whose own attribute ("how long ...") would pull
retrieval back to the earlier answer. With an LLM configured, the chain asks the model instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.core.text import stems

NAME_WORD = r"(?:(?:St|Ft|Mt|Pt)\.\s+)?[A-Z][A-Za-z'’.-]*[A-Za-z]\b"  # "St. Paul" is one name
NAME = re.compile(rf"\b{NAME_WORD}(?:\s+{NAME_WORD})*")
OPENERS = frozenset(
    "does do did is are was were can could should would will what which who whom whose when where "
    "why how has have had i my we our the a an in on for if and but or so tell please any there "
    "please list show give explain yes no under its he she they it his her their according after before "
    "since while also".split()
)
LEADING = frozenset(  # words capitalised only because they open the question ("Once an ICE agent ...")
    "once besides back about across apart aside beyond despite regarding concerning otherwise meanwhile "
    "now still even only ever just really supposedly apparently honestly basically actually".split()
)  # not stripped inside a sentence, where "Back Bay" is a place
STOPWORDS = frozenset(  # the words a question is made of, not what it is about
    "a an and are as at be been but by can could did do does for from had has have how i if in is "
    "it its me my of on or our so than that the their them then there these they this to was we "
    "were what when where which who why will with would you your about any anyone much many long "
    "keep kept use used using get tell know".split()
)
WHAT_ABOUT = re.compile(r"^\s*(?:and|but|ok(?:ay)?|so)?[\s,]*(?:what|how)\s+about\s+(.+?)\s*\??\s*$", re.I)
REFERS_BACK = re.compile(
    r"\b(they|them|their|theirs|it|its|there|that|those|these|this|he|she|his|her|same|also|too|"
    r"either|instead|one|ones|then)\b",
    re.I,
)
WHERE = re.compile(r"^\s*(and\s+)?where\b", re.I)
WHERE_FIELDS = frozenset(stems(["location address"])[0])  # what a record says where with
MAKER = (  # a question asking which company makes, sells or runs a thing ("Who makes their cameras?")
    r"\b(which|what|who(['’]?s| is| was| are| were) the) (\S+ ){0,2}(compan(y|ies)|vendors?|firms?|brands?|"
    r"manufacturers?|suppliers?|providers?|"
    r"contractors?)\b|\bwho (makes?|made|sells?|sold|suppl(y|ies|ied)|provided?s?|manufactur\w*|builds?|"
    r"built|hosts?|hosted)\b|\bmade by\b"
)
MAKER_FIELDS = frozenset(stems(["vendor manufacturer company"])[0])  # what a record names it with
FIELD_LABEL = re.compile(r"(?:^|\. )([^.:\n]{1,40}): ")  # a record's "Label: value" (`row_passage`)
LEANS_ON = re.compile(r"^\s*(and|but|so|also|ok(ay)?|then|what else|anything else)\b", re.I)
SYSTEMS = re.compile(  # what a conversation can be about besides a place: the system or the record
    r"\b(ALPRs?|LPRs?|(automated )?licen[cs]e[- ]plate (readers?|cameras?|scanners?|data(base)?)|"
    r"plate (readers?|cameras?|scanners?|data(base)?)|surveillance technolog(y|ies)|Flock( Safety)?|"
    r"Vigilant( Solutions)?|face (recognition|surveillance)|"
    r"facial recognition|drones?|body[- ]?(worn )?cam(era)?s?|contract|audit|policy|ordinance|"
    r"statute|law|bill|guidelines|FAQ|transparency portal|report)\b",
    re.I,
)


def truecase(text: str, proper: frozenset[str]) -> str:
    """Capitalise the words the documents write as names ("is newport beach keeping ...": "is
    Newport Beach keeping ..."), so that a question typed in lower case still names its place."""
    return re.sub(r"\b[a-z]+\b", lambda m: m.group().capitalize() if m.group() in proper else m.group(), text)


def names_in(text: str) -> list[str]:
    """Runs of capitalised words that look like names ("New Haven"), without question openers."""
    found: list[str] = []
    for match in NAME.finditer(text):
        parts = match.group().split()
        before = text[: match.start()].rstrip()
        if parts and parts[0].lower() in LEADING and (not before or before[-1] in ".?!"):
            parts.pop(0)
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
    """A question that leans on the conversation: 'what about X', 'and ...', a pronoun, or very
    short."""
    if not any(turn.get("role") == "user" for turn in history):
        return False
    words = re.findall(r"[A-Za-z']+", question)
    return (
        bool(WHAT_ABOUT.match(question) or LEANS_ON.match(question))
        or len(words) <= 3
        or (len(words) <= 16 and bool(REFERS_BACK.search(question)))
    )


def subject(text: str) -> list[str]:
    """The places, agencies and systems a turn is about ("Wayzata", "ALPR policy")."""
    found = [n for n in names_in(text) if n.lower() not in OPENERS]
    for match in SYSTEMS.finditer(text):
        if not any(match.group().lower() in n.lower() for n in found):
            found.append(match.group())
    return found


def standalone(question: str, history: Sequence[dict]) -> str:
    """Rewrite a follow-up as a question that can be understood on its own."""
    previous, answer = "", ""
    for turn in history:  # earlier follow-ups are resolved in order
        if turn.get("role") == "user" and turn.get("content"):
            previous, answer = _resolve(turn["content"], previous, answer), ""
        elif turn.get("role") == "assistant" and turn.get("content"):
            answer = turn["content"]
    return _resolve(question, previous, answer) if previous else question


def _resolve(question: str, previous: str, answer: str = "") -> str:
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
    # a new place with nothing pointing back ("And what did Norwalk's chief say?") replaces the old
    replaced = set(old_places) if new_places and not REFERS_BACK.search(question) else set()
    carried = [s for s in subject(previous) if s not in replaced]
    if not carried:  # nothing to carry from the question: the answer's own names, then the question
        carried = [s for s in subject(answer)[:3] if s not in new_places]
    if not carried:
        return f"{question.rstrip()} ({previous.rstrip(' ?')})"
    extra = [c for c in carried if not re.search(rf"\b{re.escape(c)}\b", question, re.I)]
    return f"{question.rstrip()} ({', '.join(extra)})" if extra else question


def asked_fields(question: str) -> frozenset[str]:
    """The stems of the record fields a question asks for: its own words ("what technologies"
    names "Technology"), for "Where ...?" a location's ("locations", "address"), and for "Which
    company ...?" a vendor's."""
    own = frozenset(stems([question])[0])
    own |= WHERE_FIELDS if WHERE.match(question) else frozenset()
    return own | MAKER_FIELDS if re.search(MAKER, question, re.I) else own


def names_a_field(question: str, record: str) -> bool:
    """Whether the question names one of the record's field labels."""
    asked = asked_fields(question)
    return any(asked & set(stems([label])[0]) for label in FIELD_LABEL.findall(record))
