"""Ingest throughput: end-to-end chunks/s for a folder, next to raw `embed_documents` on the same chunks.

Run: `.venv/bin/python -m bench.ingest corpus/ [more paths]`, or `--chunks 10000` for a synthetic
corpus of that many chunks (`bench.corpus`). Prints a table and writes JSON to
bench/results/ingest.json (`--json`: one JSON line instead, for `python -m bench`). The ratio
end-to-end / raw embedding is the figure that matters: what ingest costs beyond the model itself.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.common import RESULTS, emit, loadavg, peak_rss_mb
from bench.corpus import write_corpus
from bot.settings import Settings
from bot.store import Store, embedding_text
from ingest.pipeline import ingest_paths


def measure(paths: list[Path], data_dir: Path) -> dict:
    """Ingest into a fresh store, then embed the stored chunk texts again, in the same warm process."""
    store = Store(Settings(data_dir=data_dir))
    store.embeddings.embed_query("warm up")
    started = time.perf_counter()
    report = ingest_paths(store, paths)
    elapsed = time.perf_counter() - started
    chunks = list(store.iter_chunks())
    texts = [embedding_text(c.metadata, c.metadata.get("section", ""), c.text) for c in chunks]
    started = time.perf_counter()
    store.embeddings.embed_documents(texts)
    encode = time.perf_counter() - started
    return {
        "files_added": report.count("added"),
        "files_failed": report.count("failed"),
        "chunks": len(chunks),
        "ingest_seconds": round(elapsed, 1),
        "ingest_chunks_per_s": round(len(chunks) / elapsed, 1),
        "encode_seconds": round(encode, 1),
        "encode_chunks_per_s": round(len(chunks) / encode, 1),
        "ratio": round(encode / elapsed, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=["corpus"], help="files or folders (default corpus/)")
    parser.add_argument("--chunks", type=int, help="ingest a synthetic corpus of this many chunks instead")
    parser.add_argument("--json", action="store_true", help="print one JSON line (for `python -m bench`)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plainsight-bench-") as tmp:
        if args.chunks:
            paths = [Path(tmp) / "docs"]
            write_corpus(paths[0], args.chunks)
        else:
            paths = [Path(p) for p in args.paths]
        result = {"paths": [str(p) for p in args.paths] if not args.chunks else [f"synthetic:{args.chunks}"]}
        result.update(measure(paths, Path(tmp) / "data"))
    if args.json:
        emit(result)
        return
    result.update(peak_rss_mb=peak_rss_mb(), loadavg=loadavg())
    for key, value in result.items():
        print(f"{key:>22}  {value}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
