"""Do the quoted units answer *this* question? A fitted, calibrated model, not a cosine threshold.

On a corpus of thousands of related passages, some passage is always similar to an on-topic
question ("How much did Woodbury pay for Flock?" finds Woodbury's Flock audit), so "best cosine
above a threshold" answers questions no document answers, with a related sentence: a confident,
cited guess. This model looks at what the answer would quote: whether it covers the question's
rare words and the attribute asked for (a duration, an amount, a count, a date, a name), whether
it names the place or agency asked about, how close in meaning it is, and whether several
sources agree. It is a logistic regression fitted on the `tune` half of the team's question sets
(`plainsight calibrate`); its coefficients, cut-off and the rows that fitted them are kept
together in `answerability.json` beside this module.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from bot.core.text import stems
from bot.filters import STATES
from bot.question import MAKER

MODEL_FILE = Path(__file__).with_name("answerability.json")
UNIT_FEATURES = (  # what the ranker sees of each candidate unit (a sentence, pair, item or row)
    "similarity",  # cosine of the unit to the question
    "lexical",  # share of the question's content words (local IDF-weighted) in the unit
    "rare",  # share of the question's two rarest words in the unit
    "passage",  # cosine of the unit's passage to the question
    "passage_rank",  # 1 / (1 + the passage's place in the fused ranking)
    "place",  # share of the words of the places/agencies the question names that the unit has (1: none named)
    "place_in_context",  # ... in the unit or its document's title, jurisdiction or section
    "type",  # share of the answer shapes the question asks for (a duration, a count) the unit has (1: none)
    "pronoun",  # the unit opens with a pronoun (it leans on the sentence before)
    "fact",  # the unit is a label/value pair, a "Label: value" line or a list item
    "dataset",  # the unit is part of a dataset record
    "digits",  # the unit holds a number
    "length",  # characters / 300, at most 2
    "similarity_gap",  # similarity minus the best candidate's: meaning relative to the alternatives
    "lexical_gap",  # lexical minus the best candidate's
    "bigrams",  # share of the question's pairs of neighbouring content words the unit has
)
FEATURES = (  # what the answerability model sees of the units chosen for an answer
    "focus",  # best unit naming the place, supplying the asked type and the attribute's words
    "typed_focus",  # best unit naming the place and supplying the asked type
    "unit_probability",  # the ranker's probability for the best chosen unit
    "unit_similarity",  # cosine of the best chosen unit to the question
    "passage_similarity",  # cosine of the best retrieved passage
    "coverage",  # share of the question's content words (IDF-weighted) in the chosen units
    "rare_coverage",  # share of the question's two rarest words in the chosen units
    "attribute_coverage",  # coverage of the words that are not the place asked about
    "type_missing",  # 1 when the question asks for a number, date, duration or name none gives
    "names_missing",  # share of the own words of the places/agencies asked about absent from the answer
    "years_missing",  # share of the years named in the question absent from the answer
    "sources",  # distinct documents quoted (agreement), capped at 3
)


NUMBER = (
    r"(?:\d[\d,.]*|(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)"
    r"(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?|one|two|three|four|five|six|seven|eight|"
    r"nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|hundred|"
    r"thousand|million|billion|dozens?)"
)
ROLE = (  # an official asked for by name ("Which deputy ran ...?"); not "sheriff's offices", and not
    # a class that may ("Which officers can see it?"): a role ("the ALPR administrator") answers that
    r"(deput(y|ies)|officers?|detectives?|agents?|chiefs?|commanders?|sergeants?|lieutenants?|captains?|"
    r"sheriffs?|mayors?|council ?(members?|man|woman|ors?)|officials?|spokes(person|man|woman)|managers?|"
    r"directors?|commissioners?|judges?|senators?|lawmakers?|legislators?|governors?|ceos?|presidents?|"
    r"founders?|chair(man|woman|person)?s?|reporters?|solicitors?|attorneys?)\b(?!['’])"
    r"(?! (can|may|are|is|have|has|get|gets|must|should|could|would|will|do|does)\b)"
)
_ROLE = re.compile(ROLE, re.I)
JOINED = ("council", "spokes", "chair")  # "councilman", "spokeswoman": any one names the role
ABBREVIATED = {  # how a unit may write a role the question names
    "captain": "capt|captain", "lieutenant": "lt|lieutenant", "sergeant": "sgt|sergeant",
    "detective": "det|detective", "senator": "sen|senator", "governor": "gov|governor",
}  # fmt: skip
TITLES = (  # words that make the capitalised word after them a person's name ("Captain Jacob Burke")
    "Sheriff|Chief|Captain|Capt|Lieutenant|Lt|Sergeant|Sgt|Detective|Det|Deputy|Officer|Mayor|"
    "Councilor|Councillor|Councilmember|Councilwoman|Councilman|Commissioner|Senator|Sen|Representative|"
    "Rep|Governor|Gov|Judge|Dr|Mr|Mrs|Ms"
)
VENDORS = (  # companies known in this field by one name, which no corporate suffix marks ("Flock")
    "Flock|Vigilant|Motorola|ELSAG|Leonardo|Axon|Genetec|Rekor|PIPS|Neology|Perceptics|Kapsch|Thomson "
    "Reuters|LexisNexis|Clearview|Palantir|Skydio|DJI|Brinc|ShotSpotter|SoundThinking|Cellebrite|Fusus|"
    "Ring|Amazon|Microsoft|IBM|NEC|Idemia|Cognitec|Verint|Avigilon|Hikvision|Dahua|Mark43|Tyler|Ubicquia"
)
VENDOR = re.compile(rf"(?i:{VENDORS})")
CORPORATE = r"Inc|LLC|Corp|Corporation|Company|Ltd|Solutions|Technologies|Labs"  # not "Public Safety"
DECIDE = (  # what a question asks the outcome of ("Did the council pass it?", "Did a court force ...?")
    r"(pass\w*|approv\w*|adopt\w*|enact\w*|sign\w*|vot\w*|rul\w*|forc\w*|order\w*|overturn\w*|"
    r"strike|struck|w[io]n|los[et]|renew\w*|cancel\w*|terminat\w*|go through|become law|settle\w*|"
    r"dismiss\w*|reject\w*|veto\w*|disciplin\w*|fired|punish\w*|charged|put in place|implement\w*|"
    r"(go|went|gone) into effect|take effect|took effect)\b"
)
DECIDED = (  # the words of an outcome that a unit states
    r"(passed|approved|adopted|enacted|signed|voted|ruled|ordered|overturned|struck down|upheld|rejected|"
    r"defeated|failed|vetoed|won|lost|renewed|cancell?ed|terminated|ended|became law|took effect|settled|"
    r"implemented|went into effect|"
    r"dismissed|granted|denied|disciplined|fired|suspended|resigned|charged|convicted|sentenced|"
    r"settlement|verdict)\b"
)
OUTCOME_WORDS = frozenset(  # the asking of an outcome question, and words every passage here has
    stems(["pass approve adopt enact sign vote rule force order end happen turn outcome result go ever "
           "actually finally police department city county state"])[0]
)  # fmt: skip
ASKED = (  # (what the question asks for, its cue in the question, what a unit that supplies it holds)
    ("amount", r"\bhow much\b(?! of\b)|\b(costs?|price[sd]?|paid|pay|paying|spend|spent|budget|fees?|fines?|"
               r"(?<!\bin )charged?|dollars)\b",  # not a share ("how much of the data") nor "in charge of"
     rf"\$\s?\d|\b{NUMBER}\s?(dollars|million|thousand)\b|\bfree of charge\b|\bno cost\b"),
    ("duration", r"\bhow long\b(?! (have|has|had) (\w+ ){0,4}(used|had|been|run)\b)|"  # not "since when"
                 r"\bretention\b|\bretain\w*|\b(keep\w*|kept|hold\w* on\w*|held|hang\w* on\w*)\b.*\b(data|"
                 r"reads?|images?|scans?|records?|footage|videos?|recordings?|information|photos?|pics?)\b|"
                 r"\bdelete\w*|\bpurge\w*",
     rf"\b{NUMBER}[- ]?(\(\d+\)[- ])?(days?|weeks?|months?|years?|hours?|minutes?)\b|\bindefinite\w*|"
     r"\bpermanent\w*|\bforever\b"),
    ("count", r"\bhow many\b|\bnumber of\b|\bcount of\b|\btotal\b(?! (cost|price|amount|value)\b)",
     # a number that counts something, not a year or a §
     r"(?<!§ )(?<!Statute )(?<!Section )(?<![.\d])(?<!Chapter )(?<!No\. )"
     r"\b(?!(?:19|20)\d\d\b)\d[\d,]*(?![.\d]*\d)"
     r"(\s+[\w-]+){1,4}|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens|hundreds|"
     r"thousands|millions)\s+(of\s+)?[a-z]|\n\s*\d[\d,]*\s*$"),  # or the value under a label
    ("date", r"^\s*(and\s+)?when\b|\bwhat (year|date|month|day)\b|\bsince when\b|\bhow recently\b|"
             r"\bhow long (have|has|had) (\w+ ){0,4}(used|had|been|run)\b",  # "since 2009" answers it
     r"\b(19|20)\d\d\b|\b(January|February|March|April|May|June|July|August|September|October|November|"
     r"December)\b"),
    ("name", r"^\s*(and\s+)?who\b|\bwhich (official|person|agency)\b|\bwho (is|was|are|were)\b",
     r"\b[A-Z][\w.'’-]+(?: (?:of |the |and |& )?[A-Z][\w.'’-]+)+"  # a name,
     r"|\b(?!(?:A?LPR|CCTV|GPS|PD|ID)s?\b)[A-Z]{2,}s?\b"  # an acronym that is not the technology's,
     r"|(?i:\b(\w+ )?(agencies|departments|authorities|officers|employees|personnel|vendors|companies|"
     r"the public|anyone|no one|nobody)\b)"),  # or a class of recipients ("other Connecticut agencies")
    ("person", rf"\bwho(['’]?s| is| was| are| were) (the|its|their|(\S+ ){{0,2}}\S+['’]s) "
               rf"(\S+ ){{0,6}}?{ROLE}|"
               rf"\bwhich (\S+ ){{0,3}}?{ROLE}|\bname of (the|that|this|its|\S+['’]s) (\S+ ){{0,4}}?"
               rf"({ROLE}|guy|man|woman|lady)\b|\bwho signed\b|"
               rf"{ROLE}.*\bwhat(['’]?s| is| was) (his|her|their) names?\b",
     rf"\b(?:{TITLES})\.? [A-Z][\w'’-]+|\b[A-Z][a-z]+(?: [A-Z]\.)?(?: [A-Z][\w'’-]+){{1,2}}"),  # `_person`
    ("company", MAKER,
     rf"\b(?:{VENDORS})\b|\b[A-Z][\w&.-]*(?: [A-Z][\w&.-]*)*,? (?:{CORPORATE})\b"),
    ("outcome", rf"^\s*(and\s+)?(did|has|have|was|were)\b.*\b{DECIDE}|\bwhat (ever )?happened (to|with)\b|"
                r"\b(outcome|result) of\b|\bhow did .* (turn|end|go)\b|\bend(ed)? up\b",
     rf"\b{DECIDED}"),
    ("list", r"^\s*(which|what) (\w+ ){0,3}(departments|agencies|cities|towns|counties|states|companies|"
             r"vendors|places|technolog\w*)\b",
     r"(\b[A-Z][\w.'-]*(?: [A-Z][\w.'-]*)*, ){2,}"),
    ("statement", r"\b(say|said|respond\w*|response|react\w*|explain\w*|claim\w*)\b",
     r"\b(said|says|told|stated|statement|responded|added|according to)\b|[\"“]"),
)  # fmt: skip
GENERIC = frozenset(  # words of a name that do not make it another name ("Albert Lea Police Department")
    "the of and police department departments office sheriff sheriffs county city state university pd so s"
    "".split()
)
TITLE = re.compile(rf"(?:{TITLES})\.?")
PLACES = frozenset(  # words of places, which a given name may be or stand before ("Virginia", "Buena Park")
    " ".join(STATES.values()).lower().split()
    + "beach park vista city county lake falls hills springs".split()
)
CASED = ("name", "list", "person", "company")  # kinds whose shape is a capitalised name
_ASKED = [(name, re.compile(cue, re.I), re.compile(shape, 0 if name in CASED else re.I))
          for name, cue, shape in ASKED]  # fmt: skip
_SHAPES = {name: shape for name, _, shape in _ASKED}
COUNT_STOPS = frozenset(  # where the counted thing's words end in "how many X does/in/of ..."
    "does do did is are was were has have had can could will would in on at for of to that the there per "
    "each a an from by with they it its he she we you i".split()
)
SAME_COUNT = tuple(  # stems of words that count the same things ("thousands of times a month")
    frozenset(stems([words])[0])
    for words in (
        "reader camera cam device alpr lpr scanner unit system",
        "search query lookup time request",
        "car vehicle plate",  # a portal's "Vehicles detected" answers "how many cars"
    )
)


def asked_types(question: str) -> list[tuple[str, re.Pattern[str]]]:
    """What the question asks for: (kind, the pattern of a unit that supplies it). An outcome is
    asked only where nothing more exact is ("How many did they end up reporting?" asks a count)."""
    found = [(name, shape) for name, cue, shape in _ASKED if cue.search(question)]
    exact = {name for name, _ in found} & {"amount", "duration", "count", "date", "person", "company"}
    return [(name, shape) for name, shape in found if not (name == "outcome" and exact)]


def supplies(shape: re.Pattern[str], unit: str, question: str) -> bool:
    """Whether a unit holds what was asked for, beyond what the question itself says ("in 2019"
    in the question is no answer to "how many"; the agency the question names is no "who")."""
    asked = set(re.findall(r"\w+", question.lower())) | GENERIC
    counted = _counted(question) if shape is _SHAPES["count"] else None
    if shape is _SHAPES["outcome"] and not _outcome_of(question, unit):
        return False
    person = shape is _SHAPES["person"]
    if person and not all(
        re.search(rf"\b({role})\w*+(?!['’]s | (Office|Department)\b)", unit, re.I)
        for role in _roles(question)
    ):  # "Sheriff's Office" names no sheriff
        return False
    return any(
        set(re.findall(r"\w+", m.group().lower())) - asked
        and (counted is None or _counts(counted, unit, m))
        and (not person or _person(m.group()))
        for m in shape.finditer(unit)
    )


def _outcome_of(question: str, unit: str) -> bool:
    """Whether a unit is about the thing whose outcome is asked: it shares a word of the question
    that is neither a name (the place's other news) nor the asking ("did ... pass")."""
    named = set(stems([" ".join(re.findall(r"\b[A-Z][\w'’]*", question))])[0])
    about = set(stems([question])[0]) - named - OUTCOME_WORDS
    return bool(about & set(stems([unit])[0]))


def _roles(question: str) -> list[str]:
    """The roles a question asks for, as a unit would write them: "Who is Eugene's police chief?"
    is not answered by a unit naming the mayor or a captain. A class ("which officers") names none,
    nor does a role the question only mentions ("... the one who's running for governor")."""
    cue = next(c for name, c, _ in _ASKED if name == "person")
    words = [r.group(1).lower() for m in cue.finditer(question) for r in _ROLE.finditer(m.group())]
    roots = [next((r for r in JOINED if w.startswith(r)), re.sub(r"(ies|y|s)$", "", w)) for w in words]
    return [ABBREVIATED.get(root, root) for root in roots if root not in ("officer", "official", "agent")]


@cache
def _first_names() -> frozenset[str]:
    """Given names of the US census (the `names` package's lists), as they are capitalised."""
    import names

    return frozenset(
        line.split()[0].capitalize()
        for kind in ("first:male", "first:female")
        for line in Path(names.FILES[kind]).read_text(encoding="utf-8").splitlines()
        if line.strip()
    )


def _person(span: str) -> bool:
    """A titled name, wherever the title stands in the run ("Oakland Mayor Libby Schaaf"), or a
    run that opens with a given name before a surname that is no institution's, place's or
    acronym's word ("Sarah Medary", not "Eugene Police", "Virginia Beach" nor "Glen Cove NY")."""
    first, *rest = found = span.split()
    if any(TITLE.fullmatch(word) for word in found[:-1]):
        return True
    later = {w.lower().strip(".") for w in rest}
    return (
        first in _first_names()
        and first.lower() not in PLACES
        and not later & (GENERIC | PLACES)
        and not any(w.isupper() for w in rest)
    )


def _counted(question: str) -> frozenset[str] | None:
    """What a "how many" question counts: the last word before its verb ("How many license plate
    readers does ..." counts readers), with the words that count the same devices."""
    cue = re.search(r"\b(?:how many|number of|count of)\s+(.*)", question, re.I)
    if not cue:
        return None
    run = list(
        itertools.takewhile(lambda w: w not in COUNT_STOPS, re.findall(r"[a-z]+", cue.group(1).lower()))
    )
    head = stems(run[-1:])[0] if run else []
    if not head:  # "how many of them", or a stop word
        return None
    return next((same for same in SAME_COUNT if head[0] in same), frozenset(head))


def _counts(counted: frozenset[str], unit: str, number: re.Match[str]) -> bool:
    """Whether the number found counts that: one of its next words, or the label it is the value of."""
    after = re.findall(r"[a-z]+", unit[number.start() : number.end() + 60].lower())[:6]
    label = unit[: number.start()].rstrip().rsplit("\n", 1)[-1] if "\n" in number.group() else ""
    return bool(counted.intersection(stems([" ".join(after) + " " + label])[0]))


@dataclass(frozen=True)
class Logistic:
    """A logistic regression over standardised features."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def of(cls, data: dict[str, Any], names: tuple[str, ...]) -> Logistic:
        if tuple(data["features"]) != names:
            raise ValueError(f"{MODEL_FILE.name} was fitted on other features; run `plainsight calibrate`")
        return cls(
            names, *(np.asarray(data[k], np.float64) for k in ("mean", "scale", "coef")), data["intercept"]
        )

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """One probability per row of `x` (columns in `names` order)."""
        z = self.intercept + ((x - self.mean) / self.scale) @ self.coef
        return 1 / (1 + np.exp(-np.clip(z, -30, 30)))

    def probability(self, features: dict[str, float]) -> float:
        return float(self.probabilities(np.array([[features[n] for n in self.names]]))[0])


@dataclass(frozen=True)
class Models:
    """The unit ranker, the answerability model and its calibrated cut-off."""

    ranker: Logistic
    answerable: Logistic
    cutoff: float
    off_topic: float  # best passage similarity below which a question is not about these documents
    floor: float = 0.5  # a unit is quoted beside the best one if it scores at least this share of it
    max_units: int = 5  # units quoted at most (a listing of records aside)

    @classmethod
    def unfitted(cls) -> Models:
        """Models that judge nothing (every unit and answer scores 0.5, nothing is refused): what
        `plainsight calibrate` starts from, so a change of features never needs the old fit."""

        def neutral(names: tuple[str, ...]) -> Logistic:
            n = len(names)
            return Logistic(names, np.zeros(n), np.ones(n), np.zeros(n), 0.0)

        return cls(neutral(UNIT_FEATURES), neutral(FEATURES), 0.0, 0.0)


@cache
def load_models(path: Path = MODEL_FILE) -> Models:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Models(
        Logistic.of(data["ranker"], UNIT_FEATURES),
        Logistic.of(data["answerable"], FEATURES),
        float(data["answerable"]["cutoff"]),
        float(data["answerable"]["off_topic"]),
        float(data["selection"]["floor"]),
        int(data["selection"]["max_units"]),
    )


def fit_logistic(x: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
    """A logistic regression (scikit-learn) on standardised columns, as `Logistic.of` reads it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ == 0, 1.0, scaler.scale_)
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
    model.fit((x - scaler.mean_) / scale, y)
    return {
        "features": list(names),
        "mean": scaler.mean_.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "coef": model.coef_[0].round(6).tolist(),
        "intercept": round(float(model.intercept_[0]), 6),
    }


def fit_ranker(x: np.ndarray, y: np.ndarray, groups: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
    """A ranker learned from pairs: within each question, every unit that states an expected
    fact against every one that does not (a logistic regression on their feature differences,
    each question weighted the same). What matters is the order inside one question, and a
    pointwise fit spends itself on telling questions apart (on the 2026-12-02 `tune` units,
    5-fold by question: best unit right 0.31 -> 0.39, a right one in the top five 0.70 -> 0.79).
    The pair score is then mapped to a probability (Platt scaling on the units), so that
    `Logistic.of` reads it like any other model."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ == 0, 1.0, scaler.scale_)
    z = (x - scaler.mean_) / scale
    diffs, weights = [], []
    for group in np.unique(groups):
        mine = groups == group
        good, bad = z[mine & (y == 1)], z[mine & (y == 0)]
        if len(good) and len(bad):
            diffs.append((good[:, None, :] - bad[None, :, :]).reshape(-1, z.shape[1]))
            weights.append(np.full(len(good) * len(bad), 1.0 / (len(good) * len(bad))))
    d, w = np.vstack(diffs), np.concatenate(weights)
    pairs = LogisticRegression(C=1.0, fit_intercept=False, max_iter=3000)
    pairs.fit(np.vstack([d, -d]), np.r_[np.ones(len(d)), np.zeros(len(d))], sample_weight=np.r_[w, w])
    score = (z @ pairs.coef_[0])[:, None]
    platt = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit(score, y)
    return {
        "features": list(names),
        "mean": scaler.mean_.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "coef": (pairs.coef_[0] * platt.coef_[0][0]).round(6).tolist(),
        "intercept": round(float(platt.intercept_[0]), 6),
    }


def cutoff_for(probabilities: np.ndarray, answerable: np.ndarray, max_answerable_refused: float) -> float:
    """The highest cut-off that refuses at most `max_answerable_refused` of the answerable rows:
    as many unanswerable questions refused as that allows."""
    kept = np.sort(probabilities[answerable])
    if not len(kept):
        return 0.5
    return float(kept[int(math.floor(max_answerable_refused * len(kept)))]) - 1e-6
