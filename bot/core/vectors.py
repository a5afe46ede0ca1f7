"""Unit and int8 vectors, and their compact form in Chroma metadata.

Sentence vectors are stored as int8 (scaled per vector, since only their direction matters) in
base64: 512 characters per sentence instead of 1,536 bytes of float32, and cosine ranking is
unchanged to two decimals.
"""

from __future__ import annotations

import base64

import numpy as np


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def int8(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to a peak of 127 and rounded: only their direction is used."""
    peak = np.abs(vectors).max(axis=1, keepdims=True) if len(vectors) else vectors
    return np.round(vectors / np.where(peak == 0, 1, peak) * 127).astype(np.int8)


def pack(spans: list[tuple[int, int]], vectors: np.ndarray) -> dict[str, str]:
    """Spans and vectors as Chroma metadata strings."""
    return {
        "spans": ";".join(f"{s}:{e}" for s, e in spans),
        "vectors": base64.b64encode(int8(vectors).tobytes()).decode("ascii"),
    }


def unpack(meta: dict[str, str]) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The inverse of `pack`: spans and unit float32 vectors (one row per span)."""
    spans = [(int(s), int(e)) for s, e in (p.split(":") for p in meta["spans"].split(";") if p)]
    raw = np.frombuffer(base64.b64decode(meta["vectors"]), dtype=np.int8)
    vectors = raw.reshape(len(spans), -1).astype(np.float32) if spans else np.zeros((0, 0), np.float32)
    return spans, unit(vectors)
