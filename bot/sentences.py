"""Sentences of a passage and their stored vectors.

The grounded answerer quotes whole sentences, so it needs each passage's sentence boundaries and a
vector per sentence. Both are computed once, at ingest (`ingest.pipeline`), and stored beside the
chunk (`Store.sentences`); computing them per question was most of an answer's cost. Vectors are
kept as int8 (scaled per vector, since only their direction matters) in base64: 512 characters per
sentence instead of 1,536 bytes of float32, and cosine ranking is unchanged to two decimals.
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache

import numpy as np
import pysbd


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of a passage's sentences, whitespace trimmed, never across a
    blank line (a heading or list item is its own sentence)."""
    spans = []
    for paragraph in re.finditer(r"[^\n]+(?:\n(?!\s*\n)[^\n]+)*", text):
        base = paragraph.start()
        for part in _segmenter().segment(paragraph.group()):
            raw = paragraph.group()[part.start : part.end]
            lead = len(raw) - len(raw.lstrip())
            start, end = base + part.start + lead, base + part.start + len(raw.rstrip())
            if end > start:
                spans.append((start, end))
    return spans


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def pack(spans: list[tuple[int, int]], vectors: np.ndarray) -> dict[str, str]:
    """Spans and vectors as Chroma metadata strings."""
    peak = np.abs(vectors).max(axis=1, keepdims=True)
    quantized = np.round(vectors / np.where(peak == 0, 1, peak) * 127).astype(np.int8)
    return {
        "spans": ";".join(f"{s}:{e}" for s, e in spans),
        "vectors": base64.b64encode(quantized.tobytes()).decode("ascii"),
    }


def unpack(meta: dict[str, str]) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The inverse of `pack`: spans and unit float32 vectors (one row per span)."""
    spans = [(int(s), int(e)) for s, e in (p.split(":") for p in meta["spans"].split(";") if p)]
    raw = np.frombuffer(base64.b64decode(meta["vectors"]), dtype=np.int8)
    vectors = raw.reshape(len(spans), -1).astype(np.float32) if spans else np.zeros((0, 0), np.float32)
    return spans, unit(vectors)
