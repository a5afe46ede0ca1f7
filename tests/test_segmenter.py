"""`bot.core.segmenter.segment` returns pysbd's own sentences, character for character.

The fast segmenter copies pysbd 0.3.4's internals and skips steps it proves cannot match, so any
shortcut that is wrong shows here: on every paragraph of the starter corpus and of the real
documents (as `sentence_spans` hands them over), and on generated text made of what each shortcut
looks for (abbreviations, list markers, numbers, ellipses, quotes, brackets, non-ASCII words).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pysbd
import pytest
from conftest import REALDOCS, SEED

from bot.core.segmenter import segment
from bot.core.sentences import _unwrap

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
PARAGRAPH = re.compile(r"[^\n]+(?:\n(?!\s*\n)[^\n]+)*")
PIECES = [
    "The", "police", "said", "Mr.", "Dr.", "St.", "Louis", "U.S.", "e.g.", "i.e.", "etc.", "No.",
    "5.", "1.5", "12)", "a.", "b)", "ii.", "(iii)", "Jan.", "Minn.", "Stat.", "§", "13.824", "Inc.",
    "...", ". . .", ". . . .", "!!!", "???", "?!", '"Yes."', "'no.'", "“quoted.”", "‘single.’",
    "«arrow.»", "(see p. 4.)", "[12]", "cameras.[3]", "data.12", "--", "—", "report.pdf",
    "x@city.gov", "Ärzte.", "café.", "naïve", "ICE.", "A.", "I.", "\r", "\n", "-", "⁃", "•", "1.",
    "2.", "10.", "(a)", "a)", "Vol.", "pp.", "fig.", "approx.", "Ph.D.", "p.m.", "Sept.", "v.",
    "ALPR", "Flock", "Vigilant", "reads", "plates.", "It", "is", "a", "me", "in", "at", ",", ";",
]  # fmt: skip


def reference(text: str) -> list[str]:
    """What `sentence_spans` called before: pysbd's processor, as `Segmenter` builds it."""
    return pysbd.Segmenter(language="en", clean=False).processor(text).process()


def paragraphs(folder: Path, pattern: str) -> list[str]:
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(folder.glob(pattern))]
    return [_unwrap(m.group()) for text in texts for m in PARAGRAPH.finditer(text)]


def generated(count: int, seed: int = 6) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        words = rng.choices(PIECES, k=rng.randint(1, 40))
        texts.append("".join(w + rng.choice([" ", " ", " ", "", "  ", "\n"]) for w in words).strip())
    return [text for text in texts if text]  # sentence_spans never hands over an empty paragraph


def mismatches(texts: list[str]) -> list[str]:
    return [text for text in texts if segment(text) != reference(text)]


def test_pysbd_version_is_the_one_copied():
    assert pysbd.__version__ == "0.3.4"


def test_same_sentences_as_pysbd_on_the_corpus():
    texts = paragraphs(CORPUS, "*.md")
    assert len(texts) > 200
    assert mismatches(texts) == []


def test_same_sentences_as_pysbd_on_the_real_documents():
    if not REALDOCS.is_dir():
        pytest.skip(f"no real documents at {REALDOCS}")
    texts = paragraphs(REALDOCS, "*.txt") + (paragraphs(SEED, "*.txt") if SEED.is_dir() else [])
    assert len(texts) > 500
    assert mismatches(texts) == []


def test_same_sentences_as_pysbd_on_text_made_to_trip_each_shortcut():
    texts = generated(3000)
    assert sum(len(reference(t)) > 1 for t in texts) > 2000  # most are split, so splits are compared
    assert mismatches(texts) == []


def test_blank_text():
    for text in [" ", "\r", ".", "\n\n"]:
        assert segment(text) == reference(text)
