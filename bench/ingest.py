"""Ingest throughput: end-to-end chunks/s for a folder, next to raw `embed_documents` on the same chunks.

Run: `.venv/bin/python -m bench.ingest corpus/ [more paths]`, or `--chunks 10000` for a synthetic
corpus of that many chunks (`bench.corpus`). Prints a table and writes JSON to
bench/results/ingest.json (`--json`: one JSON line instead, for `python -m bench`). The ratio
end-to-end / raw embedding is the figure that matters: what ingest costs beyond the model itself.
The raw passes run before and after ingest, on the same texts.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.common import RESULTS, emit, loadavg, peak_rss_mb
from bench.corpus import write_corpus
from bot.core.settings import Settings
from bot.core.store import Store, embedding_text
from ingest.loaders import LoadedDocument
from ingest.pipeline import build_chunks, collect_files, content_hash, ingest_paths, read_file


def chunk_texts(paths: list[Path], settings: Settings) -> list[str]:
    """What ingest will embed for these files (the synthetic corpus has no duplicates to skip)."""
    texts = []
    for path in collect_files(paths):
        doc = read_file(path, int(settings.max_file_mb * 1e6))
        if isinstance(doc, LoadedDocument):
            digest, size, overlap = content_hash(doc), settings.chunk_size, settings.chunk_overlap
            chunks = build_chunks(doc, digest, path.name, size, overlap)
            texts += [embedding_text(c.metadata, c.metadata["section"], c.text) for c in chunks]
    return texts


def measure(paths: list[Path], data_dir: Path) -> dict:
    """Raw embedding of the chunk texts, ingest into a fresh store, raw embedding again, in one
    warm process: the raw figure is the mean of the two passes around ingest, so a machine that
    speeds up or slows down during the run (a shared one does) does not tilt the ratio."""
    store = Store(Settings(data_dir=data_dir))
    texts = chunk_texts(paths, store.settings)
    store.embeddings.embed_query("warm up")
    encode = []
    started = time.perf_counter()
    store.embeddings.embed_documents(texts)
    encode.append(time.perf_counter() - started)
    started = time.perf_counter()
    report = ingest_paths(store, paths)
    elapsed = time.perf_counter() - started
    chunks = store.chunk_count()
    started = time.perf_counter()
    store.embeddings.embed_documents(texts)
    encode.append(time.perf_counter() - started)
    mean = sum(encode) / 2
    return {
        "files_added": report.count("added"),
        "files_failed": report.count("failed"),
        "chunks": chunks,
        "ingest_seconds": round(elapsed, 1),
        "ingest_chunks_per_s": round(chunks / elapsed, 1),
        "encode_seconds": [round(e, 1) for e in encode],
        "encode_chunks_per_s": round(len(texts) / mean, 1),
        "ratio": round(mean / elapsed * chunks / len(texts), 3),
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
