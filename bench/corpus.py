"""A synthetic corpus of exactly N chunks, made from the starter corpus's own sentences.

Real sentences keep the text statistics (length, vocabulary, tokens per chunk) of what residents
will search; shuffling them with a fixed seed makes every document distinct (so the duplicate check
lets it in) and every run identical. Each section body stays under the chunk size, so each section
is exactly one chunk and N chunks means N sections.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import yaml

from bench.common import CORPUS, TOWNS

SECTIONS_PER_DOC = 20
MIN_CHARS, MAX_CHARS = 450, 800  # under the default chunk size (900), so one chunk per section
FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“])")


def _source_text(folder: Path) -> tuple[list[str], list[str], list[str]]:
    """Sentences, section headings and document types of the starter corpus."""
    sentences, headings, doc_types = [], [], set()
    for path in sorted(folder.glob("*.md")):
        text = path.read_text()
        if match := FRONT_MATTER.match(text):
            doc_types.add(str(yaml.safe_load(match.group(1)).get("doc_type", "report")))
            text = text[match.end() :]
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("#"):
                headings.append(line.lstrip("# ").strip())
            elif line and not line.startswith(("|", ">", "```", "---")):
                line = re.sub(r"^[-*] |^\d+\. ", "", line)
                sentences += [s for s in SENTENCE_END.split(line) if 40 <= len(s) <= 400]
    return sentences, sorted(set(headings)), sorted(doc_types)


def _section(rng: random.Random, sentences: list[str]) -> str:
    target, body = rng.randint(MIN_CHARS, MAX_CHARS), ""
    while True:
        sentence = rng.choice(sentences)
        if len(body) + len(sentence) + 1 > target:
            return body or sentence
        body = f"{body} {sentence}".strip()


def write_corpus(folder: Path, chunks: int, seed: int = 7) -> list[Path]:
    """Write Markdown files with front matter holding `chunks` one-chunk sections in all."""
    rng = random.Random(seed)
    sentences, headings, doc_types = _source_text(CORPUS)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, start in enumerate(range(0, chunks, SECTIONS_PER_DOC)):
        meta = {
            "doc_id": f"bench-{n:05d}",
            "title": f"{rng.choice(headings)} ({TOWNS[n % len(TOWNS)].split(',')[0]} report {n})",
            "jurisdiction": TOWNS[n % len(TOWNS)],
            "doc_type": doc_types[n % len(doc_types)],
            "publisher": "Plainsight bench",
            "published": f"2025-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
            "source_url": f"https://example.org/bench/{n}",
        }
        body = "\n\n".join(
            f"## {rng.choice(headings)}\n\n{_section(rng, sentences)}"
            for _ in range(min(SECTIONS_PER_DOC, chunks - start))
        )
        path = folder / f"{meta['doc_id']}.md"
        path.write_text(f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n{body}\n")
        paths.append(path)
    return paths
