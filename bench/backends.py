"""Embedding backends side by side: passages/s, question latency, and retrieval quality.

For each backend (PyTorch, ONNX, int8 ONNX), in its own process: model load time, single questions
embedded one at a time, and the starter corpus ingested and evaluated on tests/eval/starter.jsonl,
so a faster backend is kept only if it retrieves as well (issue: at most 1 point of hit@5 lost
against PyTorch). Then, in one process, the passages of a synthetic corpus embedded as ingest does
(`embed_documents`) by each backend in turns, `ROUNDS` times: passages/s is the median.

Run: `.venv/bin/python -m bench.backends [--passages 512]` (prints a table and writes
bench/results/backends.json); `--backend onnx --json` measures one backend and prints one JSON line,
`--throughput --json` only the passages/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import CORPUS, QUESTIONS, RESULTS, emit, loadavg, percentiles_ms, questions, run_worker
from bench.corpus import write_corpus

BACKENDS = ("torch", "onnx", "onnx-int8")
ROUNDS = 3  # timed passes per backend, in turns; the median is reported


def passages(count: int, folder: Path) -> list[str]:
    """Embedding texts of `count` synthetic chunks, exactly as ingest would embed them."""
    from bot.core.store import embedding_text
    from ingest.chunking import split_document
    from ingest.loaders import load_bytes

    texts = []
    for path in write_corpus(folder, count):
        doc = load_bytes(path.name, path.read_bytes())
        texts += [embedding_text(doc.meta, p.section, p.text) for p in split_document(doc, 900, 150)]
    return texts[:count]


def measure(backend: str) -> dict[str, Any]:
    from bot.chain import AnswerChain
    from bot.core.embeddings import make_embeddings
    from bot.core.settings import Settings
    from bot.core.store import Store
    from bot.evaluate import load_cases, run
    from ingest.pipeline import ingest_paths

    with tempfile.TemporaryDirectory(prefix="plainsight-backends-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", embedding_backend=backend, llm="")
        started = time.perf_counter()
        embeddings = make_embeddings(settings)
        load_s = time.perf_counter() - started
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
        "question": percentiles_ms(timings),
        "eval": {k: quality[k] for k in ("hit@1", "hit@5", "mrr", "fact_recall", "refusal_accuracy")},
    }


def table(results: list[dict[str, Any]]) -> Table:
    torch = next((r for r in results if r["backend"] == "torch"), None)
    out = Table(title="Embedding backends (passages/s: median of turns in one process, same passages)")
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


def throughput(count: int, rounds: int = ROUNDS) -> dict[str, list[float]]:
    """Passages/s of every backend on the same passages, in one process and in turns (the order
    rotating each round), so that a shared machine's changing speed falls on all of them alike.
    Each backend first embeds them all once, untimed: ONNX Runtime sets up each new batch shape
    on first sight, which a short warm-up would leave inside the timed passes."""
    from bot.core.embeddings import make_embeddings
    from bot.core.settings import Settings

    with tempfile.TemporaryDirectory(prefix="plainsight-backends-") as tmp:
        texts = passages(count, Path(tmp) / "docs")
        models = {
            b: make_embeddings(Settings(data_dir=Path(tmp) / "data", embedding_backend=b, llm=""))
            for b in BACKENDS
        }
        rates: dict[str, list[float]] = {b: [] for b in BACKENDS}
        for model in models.values():
            model.embed_documents(texts)
        for n in range(rounds):
            for backend in BACKENDS[n % len(BACKENDS) :] + BACKENDS[: n % len(BACKENDS)]:
                started = time.perf_counter()
                models[backend].embed_documents(texts)
                rates[backend].append(round(len(texts) / (time.perf_counter() - started), 2))
    return rates


def compare(count: int) -> list[dict[str, Any]]:
    """Every backend measured in its own process (load, questions, quality), then their
    throughput side by side in one process."""
    results = []
    for backend in BACKENDS:
        print(f"backend: {backend}", flush=True)
        results.append(run_worker("bench.backends", "--backend", backend, "--json"))
    print("backends: passages/s, in turns", flush=True)
    rates = run_worker("bench.backends", "--throughput", "--passages", str(count), "--json")
    for result in results:
        result.update(passages=count, rounds=rates[result["backend"]])
        result["passages_per_s"] = statistics.median(result["rounds"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=512, help="passages embedded per backend")
    parser.add_argument("--backend", choices=BACKENDS, help="measure this one only, in this process")
    parser.add_argument("--throughput", action="store_true", help="only passages/s, all backends in turns")
    parser.add_argument("--json", action="store_true", help="with --backend/--throughput: one JSON line")
    parser.add_argument("--out", type=Path, default=RESULTS / "backends.json")
    args = parser.parse_args()
    if args.backend or args.throughput:
        result = measure(args.backend) if args.backend else throughput(args.passages)
        if args.json:
            emit(result)
        else:
            print(json.dumps(result, indent=2))
        return
    results = compare(args.passages)
    Console(width=160).print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"loadavg_end": loadavg(), "backends": results}, indent=2) + "\n")
    print(f"JSON in {args.out}")


if __name__ == "__main__":
    main()
