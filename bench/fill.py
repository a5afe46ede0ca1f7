"""Large stores without hours of embedding: replicate the real corpus's records under new ids.

The starter corpus is ingested for real once (the seed store). A store of N chunks is that seed
plus copies of its documents under new doc_ids, each in one of `TOWNS`, with chunk vectors moved
by small Gaussian noise and re-normalised (so the HNSW graph is not full of exact duplicates).
Every collection of the seed (chunks, registry, and whatever else the store keeps per chunk) is
copied generically, all metadata keys included; only doc_id, content_hash and jurisdiction change,
consistently, so readers vouch for the copies exactly as for real documents. Records are written in
big batches, the registry last, then one `bump` stamps a new generation.

Run: `.venv/bin/python -m bench.fill DATA_DIR` (ingest corpus/ for real) or
`.venv/bin/python -m bench.fill DATA_DIR --seed SEED_DIR --chunks 100000`. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections import defaultdict
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import CORPUS, TOWNS, emit
from bot.core.settings import Settings
from bot.core.store import Store
from ingest.pipeline import ingest_paths

NOISE = 0.01  # per dimension: a copy keeps cosine ~0.98 to its original (384 dimensions)
Records = dict[str, list]


def _read(collection) -> Records:
    got = collection.get(include=["embeddings", "metadatas", "documents"])
    return {
        "ids": list(got["ids"]),
        "embeddings": list(np.asarray(got["embeddings"], dtype=np.float32)),
        "metadatas": [dict(m or {}) for m in got["metadatas"]],
        "documents": list(got["documents"] or [None] * len(got["ids"])),
    }


def _by_doc(records: Records) -> dict[str, list[int]]:
    """Record positions per document: a record's doc is its `doc_id` metadata, else its id."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (rid, meta) in enumerate(zip(records["ids"], records["metadatas"])):
        groups[meta.get("doc_id") or rid].append(i)
    return groups


def _copy(
    records: Records, rows: list[int], doc: str, new: str, town: str, rng: np.random.Generator
) -> Records:
    """Rows of one document renamed to `new`, placed in `town`, real vectors perturbed."""
    out: Records = {"ids": [], "embeddings": [], "metadatas": [], "documents": []}
    for i in rows:
        rid, meta, vector = records["ids"][i], dict(records["metadatas"][i]), records["embeddings"][i]
        out["ids"].append(new + rid[len(doc) :] if rid.startswith(doc) else f"{new}:{rid}")
        if "doc_id" in meta:
            meta["doc_id"] = new
        if "content_hash" in meta:
            meta["content_hash"] = hashlib.sha256(f"{meta['content_hash']}:{new}".encode()).hexdigest()[:32]
        if "jurisdiction" in meta:
            meta["jurisdiction"] = town
        if vector.size > 1:
            vector = vector + rng.normal(0, NOISE, vector.shape).astype(np.float32)
            vector /= np.linalg.norm(vector)
        out["metadatas"].append(meta)
        out["embeddings"].append(vector)
        out["documents"].append(records["documents"][i])
    return out


def fill(seed_dir: Path, data_dir: Path, chunks: int, seed: int = 7) -> dict[str, Any]:
    """Copy the seed store into `data_dir`, plus replicas until it holds at least `chunks` chunks."""
    source, store = Store(Settings(data_dir=seed_dir)), Store(Settings(data_dir=data_dir))
    names = [c.name for c in source._client.list_collections()]
    names.sort(key=lambda n: n == source._registry.name)  # the registry is written last
    origins = {n: source._client.get_collection(n, embedding_function=None) for n in names}
    seeds = {n: _read(c) for n, c in origins.items()}
    targets = {
        n: store._client.get_or_create_collection(n, metadata=c.metadata, embedding_function=None)
        for n, c in origins.items()
    }
    groups = {n: _by_doc(r) for n, r in seeds.items()}
    docs = sorted(groups[source._chunks.name])
    batch = min(5000, store._client.get_max_batch_size())
    pending = {n: {k: list(v) for k, v in r.items()} for n, r in seeds.items()}  # the real ones, as they are
    rng = np.random.default_rng(seed)
    total, written = len(seeds[source._chunks.name]["ids"]), 0

    def flush() -> None:
        nonlocal written
        for n in names:
            records = {k: v for k, v in pending[n].items() if any(x is not None for x in v)}
            for start in range(0, len(pending[n]["ids"]), batch):
                targets[n].add(**{k: v[start : start + batch] for k, v in records.items()})
            written += len(pending[n]["ids"])
            pending[n] = {"ids": [], "embeddings": [], "metadatas": [], "documents": []}

    started = time.perf_counter()
    copies = count()
    while total < chunks:
        for doc in docs:
            n_copy = next(copies)
            new, town = f"{doc}~{n_copy:06d}", TOWNS[n_copy % len(TOWNS)]
            for n in names:
                if rows := groups[n].get(doc):
                    for key, values in _copy(seeds[n], rows, doc, new, town, rng).items():
                        pending[n][key] += values
            total += len(groups[source._chunks.name][doc])
            if len(pending[source._chunks.name]["ids"]) >= batch:
                flush()
            if total >= chunks:
                break
    flush()
    store.bump()  # readers see the filled store
    return {
        "chunks": store.chunk_count(),
        "documents": store.document_count(),
        "records_written": written,
        "fill_seconds": round(time.perf_counter() - started, 1),
    }


def ingest_corpus(data_dir: Path) -> dict[str, Any]:
    """The seed: the starter corpus ingested for real."""
    store = Store(Settings(data_dir=data_dir))
    started = time.perf_counter()
    report = ingest_paths(store, [CORPUS])
    return {
        "chunks": store.chunk_count(),
        "documents": report.count("added"),
        "files_failed": report.count("failed"),
        "ingest_seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--seed", type=Path, help="store with the real corpus; without it, ingest corpus/")
    parser.add_argument("--chunks", type=int, default=0, help="chunks wanted (whole documents: a few more)")
    args = parser.parse_args()
    emit(fill(args.seed, args.data_dir, args.chunks) if args.seed else ingest_corpus(args.data_dir))


if __name__ == "__main__":
    main()
