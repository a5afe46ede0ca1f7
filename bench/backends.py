"""Embedding backends side by side: passages/s, question latency, and retrieval quality.

For each backend (PyTorch, ONNX, int8 ONNX), in its own process: the passages of a synthetic corpus
embedded as ingest does (`embed_documents`), single questions embedded one at a time, and the
starter corpus ingested and evaluated on tests/eval/starter.jsonl, so a faster backend is kept
only if it retrieves as well (issue: at most 1 point of hit@5 lost against PyTorch).

Run: `.venv/bin/python -m bench.backends [--passages 512]` (prints a table and writes
bench/results/backends.json); `--backend onnx --json` measures one backend and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import CORPUS, QUESTIONS, RESULTS, emit, loadavg, percentiles_ms, questions, run_worker
from bench.corpus import write_corpus

BACKENDS = ("torch", "onnx", "onnx-int8")


def passages(count: int, folder: Path) -> list[str]:
    """Embedding texts of `count` synthetic chunks, exactly as ingest would embed them."""
    from bot.store import embedding_text
    from ingest.chunking import split_document
    from ingest.loaders import load_bytes

    texts = []
    for path in write_corpus(folder, count):
        doc = load_bytes(path.name, path.read_bytes())
        texts += [embedding_text(doc.meta, p.section, p.text) for p in split_document(doc, 900, 150)]
    return texts[:count]


def measure(backend: str, count: int) -> dict[str, Any]:
    from bot.chain import AnswerChain
    from bot.evaluate import load_cases, run
    from bot.settings import Settings
    from bot.store import Store, make_embeddings
    from ingest.pipeline import ingest_paths

    with tempfile.TemporaryDirectory(prefix="plainsight-backends-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", embedding_backend=backend, llm="")
        started = time.perf_counter()
        embeddings = make_embeddings(settings)
        load_s = time.perf_counter() - started
        texts = passages(count, Path(tmp) / "docs")
        # a whole untimed pass first: ONNX Runtime sets up each new batch shape on first sight,
        # which a short warm-up would leave inside the timed pass
        embeddings.embed_documents(texts)
        started = time.perf_counter()
        embeddings.embed_documents(texts)
        encode_s = time.perf_counter() - started
        asked = questions()
        timings = []
        for question in asked:
            started = time.perf_counter()
            embeddings.embed_query(question)
            timings.append(time.perf_counter() - started)
        store = Store(settings, embeddings=embeddings)
        ingest_paths(store, [CORPUS])
        quality = run(AnswerChain(settings, store), load_cases(QUESTIONS))["metrics"]
    return {
        "backend": backend,
        "model_load_s": round(load_s, 2),
        "passages": len(texts),
        "passages_per_s": round(len(texts) / encode_s, 2),
        "question": percentiles_ms(timings),
        "eval": {k: quality[k] for k in ("hit@1", "hit@5", "mrr", "fact_recall", "refusal_accuracy")},
    }


def table(results: list[dict[str, Any]]) -> Table:
    torch = next((r for r in results if r["backend"] == "torch"), None)
    out = Table(title="Embedding backends (same passages, same process kind, one after another)")
    for name in ("backend", "passages/s", "x torch", "question p50 / p95 ms", "load s", "hit@5", "hit@1",
                 "MRR", "fact recall", "load avg"):  # fmt: skip
        out.add_column(name, justify="left" if name == "backend" else "right")
    for r in results:
        speedup = r["passages_per_s"] / torch["passages_per_s"] if torch else None
        out.add_row(
            r["backend"],
            f"{r['passages_per_s']:g}",
            f"{speedup:.2f}" if speedup else "",
            f"{r['question']['p50_ms']:g} / {r['question']['p95_ms']:g}",
            f"{r['model_load_s']:g}",
            *(f"{r['eval'][k]:g}" for k in ("hit@5", "hit@1", "mrr", "fact_recall")),
            f"{r['loadavg'][0]:g}",
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=512, help="passages embedded per backend")
    parser.add_argument("--backend", choices=BACKENDS, help="measure this one only, in this process")
    parser.add_argument("--json", action="store_true", help="with --backend: print one JSON line")
    parser.add_argument("--out", type=Path, default=RESULTS / "backends.json")
    args = parser.parse_args()
    if args.backend:
        result = measure(args.backend, args.passages)
        if args.json:
            emit(result)
        else:
            print(json.dumps(result, indent=2))
        return
    results = []
    for backend in BACKENDS:
        print(f"backend: {backend}", flush=True)
        results.append(
            run_worker("bench.backends", "--backend", backend, "--passages", str(args.passages), "--json")
        )
    Console(width=160).print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"loadavg_end": loadavg(), "backends": results}, indent=2) + "\n")
    print(f"JSON in {args.out}")


if __name__ == "__main__":
    main()
