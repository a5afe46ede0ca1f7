"""pysbd 0.3.4's English sentence splitter, three to four times faster, same output.

pysbd was the slowest step of ingest after the model itself (slower than writing the chunks to
Chroma). These subclasses run its own steps, but skip work that cannot change the text (where every
pattern of a step needs a character the text lacks), or match with a pattern written to find
exactly what pysbd's finds. They copy pysbd's internals, so pysbd is pinned in pyproject.toml, and
`tests/test_segmenter.py` holds `segment` equal to `pysbd.Segmenter` on the corpus, the real
documents and text written to trip each shortcut.
"""

from __future__ import annotations

import re

from pysbd.between_punctuation import BetweenPunctuation
from pysbd.lang.english import English
from pysbd.lists_item_replacer import ListItemReplacer
from pysbd.processor import Processor
from pysbd.utils import Text

# Each guard is a necessary condition for any match of the pysbd patterns it stands for; most
# start with a literal character, which the regex engine finds many times faster than a pattern.
BEFORE_PERIOD = re.compile(r"(?:^|(?<=\s))([^\W\d_]+)\.")  # "Mr." after a space: abbreviations
LONE_LETTER_PERIOD = re.compile(r"\.(?<=(?<!\S)[a-z]\.)")  # list item "a."
NUMBER_PERIOD = re.compile(r"\.(?:(?<=(?<![^\s\-⁃])\d\.)|(?<=(?<![^\s\-⁃])\d\d\.))[\s)]")  # "12. "
NUMBER_PAREN = re.compile(r"\)(?<=\d\))(?=\s)")  # list item "12) "
PERIOD_BY_DIGIT = re.compile(r"\.(?:(?<=\d\.)|(?=\d))")  # "1.5", "No. 5.": pysbd's number rules
NUMERIC_REFERENCE = re.compile(r"[.∯][\[\d]")  # "cameras.[12] The", "cameras.12 The"
SPACED_PERIODS = re.compile(r"\.\s\.")  # ". . ." and ". . . .": pysbd's spaced ellipses
ABBREVIATIONS = [abbr.strip() for abbr in English.Abbreviation.ABBREVIATIONS]  # in pysbd's order


class _Abbreviations(English.AbbreviationReplacer):
    """pysbd's abbreviation pass, minus the abbreviations that cannot change this line.

    pysbd runs a few regular expressions per abbreviation found anywhere in a line ("a", "is",
    "me" are in most lines), which was two thirds of its time. An abbreviation only ever changes
    text by marking the period right after it, where it follows a space or starts the line, so one
    scan for the words written that way tells which abbreviations can. Abbreviations with a period
    inside ("e.g"), and lines where such a word is not ASCII (case-insensitive matching has odd
    cases there), go through pysbd's own loop, which this copies, in pysbd's order.
    """

    def search_for_abbreviations_in_string(self, text: str) -> str:
        ending = {word.lower() for word in BEFORE_PERIOD.findall(text)}
        if not all(word.isascii() for word in ending):
            return super().search_for_abbreviations_in_string(text)
        lowered = text.lower()
        for stripped in ABBREVIATIONS:
            if stripped not in (ending if stripped.isalpha() else lowered):
                continue
            found = re.findall(rf"(?:^|\s|\r|\n){stripped}", text, flags=re.IGNORECASE)
            next_words = re.findall(r"(?<={" + re.escape(stripped) + "} ).{1}", text)
            for index, match in enumerate(found):
                text = self.scan_for_replacements(text, match, index, next_words)
        return text

    def replace_abbreviation_as_sentence_boundary(self) -> str:
        return super().replace_abbreviation_as_sentence_boundary() if "∯" in self.text else self.text


class _ListItems(ListItemReplacer):
    """List items: each kind only looked for where the text has what all its patterns need, and
    pysbd's alternations of lookbehinds (`(?<=^)x|(?<=\\A)x|(?<=\\s)x`) as one each, three to five
    times faster, where it does."""

    ALPHABETICAL_LIST_WITH_PERIODS = r"(?<!\S)[a-z](?=\.)"
    ALPHABETICAL_LIST_WITH_PARENS = r"(?<![^\s(])[a-z]+(?=\))"

    def add_line_breaks_for_alphabetical_list_with_periods(self, roman_numeral: bool = False) -> str:
        if not LONE_LETTER_PERIOD.search(self.text):
            return self.text
        return super().add_line_breaks_for_alphabetical_list_with_periods(roman_numeral)

    def add_line_breaks_for_alphabetical_list_with_parens(self, roman_numeral: bool = False) -> str:
        if ")" not in self.text:
            return self.text
        return super().add_line_breaks_for_alphabetical_list_with_parens(roman_numeral)

    def replace_periods_in_numbered_list(self) -> None:
        if NUMBER_PERIOD.search(self.text):
            super().replace_periods_in_numbered_list()

    def format_numbered_list_with_parens(self) -> None:
        if "☝" in self.text or NUMBER_PAREN.search(self.text):  # its marker, then the items
            super().format_numbered_list_with_parens()


class _BetweenPunctuation(BetweenPunctuation):
    """Punctuation inside quotes, brackets and dashes, each kind only where its mark occurs (these
    steps only ever replace punctuation, so none adds a mark that a later one looks for)."""

    def sub_punctuation_between_quotes_and_parens(self, txt: str) -> str:
        for mark, step in (
            ("'", self.sub_punctuation_between_single_quotes),
            ("‘", self.sub_punctuation_between_single_quote_slanted),
            ('"', self.sub_punctuation_between_double_quotes),
            ("[", self.sub_punctuation_between_square_brackets),
            ("(", self.sub_punctuation_between_parens),
            ("«", self.sub_punctuation_between_quotes_arrow),
            ("--", self.sub_punctuation_between_em_dashes),
            ("“", self.sub_punctuation_between_quotes_slanted),
        ):
            if mark in txt:
                txt = step(txt)
        return txt


class _English(English):
    """pysbd's English, with the steps it looks up by name replaced."""

    AbbreviationReplacer = _Abbreviations
    BetweenPunctuation = _BetweenPunctuation


class _Processor(Processor):
    """pysbd's processor, faster: `process` is copied to use `_ListItems` (pysbd names that class
    directly) and to skip the number and punctuation rules where they cannot match; the last two
    steps run each plain-text rule only where its text occurs."""

    def process(self) -> list[str]:
        if not self.text:
            return []
        self.text = _ListItems(self.text.replace("\n", "\r")).add_line_break()
        self.replace_abbreviations()
        if PERIOD_BY_DIGIT.search(self.text):
            self.replace_numbers()
        if "!" in self.text or "?" in self.text:  # "!!!", "???"
            self.replace_continuous_punctuation()
        if NUMERIC_REFERENCE.search(self.text):
            self.replace_periods_before_numeric_references()
        self.text = Text(self.text).apply(
            self.lang.Abbreviation.WithMultiplePeriodsAndEmailRule,
            self.lang.GeoLocationRule,
            self.lang.FileFormatRule,
        )
        return self.split_into_segments()

    def split_into_segments(self) -> list[str]:
        """pysbd's, with its plain-text rules (`SubSymbolsRules`, `SubSingleQuoteRule`) run only
        on the sentences that contain their text, and its ellipsis rules only where a segment has
        "..." or ". ." (or a newline, for `SingleNewLineRule`)."""
        self.check_for_parens_between_quotes()
        segments = [
            Text(s).apply(self.lang.SingleNewLineRule, *self.lang.EllipsisRules.All)
            if "\n" in s or "..." in s or SPACED_PERIODS.search(s)
            else s
            for s in self.rm_none_flatten(self.text.split("\r"))
        ]
        sentences: list[str] = []
        for segment in self.rm_none_flatten([self.check_for_punctuation(s) for s in segments]):
            done = self.post_process_segments(_plain(segment, self.lang.SubSymbolsRules.All))
            if done and isinstance(done, str):
                sentences.append(done)
            elif isinstance(done, list):
                sentences.extend(done)
        return [_plain(s, [self.lang.SubSingleQuoteRule]) for s in sentences]

    def post_process_segments(self, txt: str) -> str | list[str]:
        """pysbd's, with its ellipsis markers put back only where there are any."""
        if len(txt) > 2 and re.search(r"\A[a-zA-Z]*\Z", txt):
            return txt
        txt = _plain(txt, self.lang.ReinsertEllipsisRules.All)
        if re.search(self.lang.QUOTATION_AT_END_OF_SENTENCE_REGEX, txt):
            return re.split(self.lang.SPLIT_SPACE_QUOTATION_AT_END_OF_SENTENCE_REGEX, txt)
        return txt.replace("\n", "").strip()


def _plain(text: str, rules: list) -> str:
    """`Text(text).apply(*rules)` for rules whose patterns are plain text (no regex syntax), as
    pysbd's symbol rules are: a rule whose text does not occur changes nothing."""
    for rule in rules:
        if rule.pattern in text:
            text = re.sub(rule.pattern, rule.replacement, text)
    return text


def segment(text: str) -> list[str]:
    """pysbd's sentences of `text`: `Segmenter(language="en", clean=False).processor(text).process()`."""
    return _Processor(text, _English).process()
