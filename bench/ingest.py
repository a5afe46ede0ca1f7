"""Ingest throughput: end-to-end chunks/s for a folder, next to raw `encode` on the same chunks.

Run: `.venv/bin/python -m bench.ingest corpus/ [more paths]`. Prints a table and writes JSON to
bench/results/ingest.json. The ratio end-to-end / raw encode is the figure that matters.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from bot.settings import Settings
from bot.store import Store, embedding_text
from ingest.pipeline import ingest_paths


def main(paths: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Settings(data_dir=Path(tmp)))
        store.embeddings.embed_query("warm up")
        started = time.perf_counter()
        report = ingest_paths(store, [Path(p) for p in paths])
        elapsed = time.perf_counter() - started
        chunks = list(store.iter_chunks())
        texts = [embedding_text(c.metadata, c.metadata.get("section", ""), c.text) for c in chunks]
        started = time.perf_counter()
        store.embeddings.embed_documents(texts)
        encode = time.perf_counter() - started
    result = {
        "paths": paths,
        "files_added": report.count("added"),
        "files_failed": report.count("failed"),
        "chunks": len(chunks),
        "ingest_seconds": round(elapsed, 1),
        "ingest_chunks_per_s": round(len(chunks) / elapsed, 1),
        "encode_seconds": round(encode, 1),
        "encode_chunks_per_s": round(len(chunks) / encode, 1),
        "ratio": round(encode / elapsed, 3),
    }
    for key, value in result.items():
        print(f"{key:>22}  {value}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:] or ["corpus"])
