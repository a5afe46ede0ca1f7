"""`make bench`: ingest throughput, warm answer latency and cold start, as one table.

Run: `.venv/bin/python -m bench [--sizes 1000,10000]` (default: the full set, two hours on two
busy cores). Each step runs in its own process so peak RSS is per store size:

* backends: PyTorch, ONNX and int8 ONNX on the same passages, with their retrieval quality
  (`bench.backends`);
* ingest: a synthetic corpus of each `--ingest-sizes` chunks (`bench.ingest`);
* ocr: scanned pages recognised per second, render and Tesseract (`bench.ocr`, `--ocr-pages`);
* ask: the starter corpus ingested for real, then stores of each `--ask-sizes` chunks filled by
  replicating it (`bench.fill`), each timed warm (`bench.ask`) and, for `--cold-sizes`, from a cold
  process (`bench.cold`); the largest is also profiled (bench/results/profile-<chunks>.txt).

Prints the table and the load average (the machine is shared, so figures are noisy) and writes
everything to bench/results/bench.json (`--out`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.backends import compare
from bench.backends import table as backends_table
from bench.cold import cold_start
from bench.common import RESULTS, ROOT, disk_mb, loadavg, run_worker

CORPUS = "corpus"  # the size name of the store holding the real starter corpus
DEFAULTS = {
    "ingest": "synthetic corpora of these many chunks (default 1000,10000)",
    "ask": "stores of these many chunks, after the real corpus (default 1000,10000,100000)",
    "cold": "cold start on these stores (default corpus and the largest ask size)",
}
SECRET = re.compile(r"KEY|PASSWORD|SECRET|TOKEN", re.I)


def sizes(text: str) -> list[str]:
    """'corpus,1000,10k' -> ['corpus', '1000', '10000']; 'none' -> [] (skip the step)."""
    out: list[str] = []
    for part in filter(None, (p.strip().lower() for p in text.split(","))):
        if part == "none":
            continue
        out.append(
            part if part == CORPUS else str(int(float(part.rstrip("k")) * (1000 if part[-1] == "k" else 1)))
        )
    return out


def source_info() -> dict[str, Any]:
    """Which code was measured: the commit and whether bot/ or ingest/ had uncommitted changes."""
    git = {"cwd": ROOT, "capture_output": True, "text": True}
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], **git)
    if head.returncode != 0:  # a copy of the code, not a checkout: say where it was
        return {"root": str(ROOT)}
    dirty = subprocess.run(["git", "status", "--porcelain", "bot", "ingest"], **git)
    return {"root": str(ROOT), "commit": head.stdout.strip(), "uncommitted": dirty.stdout.splitlines()}


def run_ingest(chunks: str) -> dict[str, Any]:
    print(f"ingest: {chunks} chunks", flush=True)
    return run_worker("bench.ingest", "--chunks", chunks, "--json")


def run_ask(size: str, work: Path, repeat: int, profile: int, cold: bool) -> dict[str, Any]:
    """Build (or fill) the store of one size, then time it warm and, when asked, cold."""
    data = work / size
    print(f"ask: {size} chunks: filling", flush=True)
    if size == CORPUS:
        built = run_worker("bench.fill", str(data))
    else:
        built = run_worker("bench.fill", str(data), "--seed", str(work / CORPUS), "--chunks", size)
    result: dict[str, Any] = {"build": built, "disk_mb": disk_mb(data)}
    print(f"ask: {size} chunks: {built['chunks']} stored, timing", flush=True)
    result["ask"] = run_worker("bench.ask", str(data), "--repeat", str(repeat), "--profile", str(profile))
    result["index_mb"] = disk_mb(data, only="index")  # saved by the first ask
    if cold:
        print(f"ask: {size} chunks: cold start", flush=True)
        result["cold"] = cold_start(data)
    return result


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) and "p50_ms" in value:
        return f"{value['p50_ms']:g} / {value['p95_ms']:g}"
    return f"{value:,}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def table(report: dict[str, Any]) -> Table:
    """Measures as rows, store sizes as columns."""
    ingest, ask = report["ingest"], report["ask"]
    columns = list(dict.fromkeys([*ask, *ingest]))
    columns.sort(key=lambda c: -1 if c == CORPUS else int(c))
    out = Table(title=f"Plainsight bench ({report['started']}, {report['cpus']} CPUs)")
    out.add_column("measure")
    for c in columns:
        out.add_column(c if c == CORPUS else f"{int(c):,}", justify="right")

    def row(name: str, source: dict[str, Any], get) -> None:
        cells = [cell(get(source[c])) if c in source else "" for c in columns]
        if any(cells):
            out.add_row(name, *cells)

    row("ingest: chunks", ingest, lambda r: r["chunks"])
    row("ingest: end-to-end chunks/s", ingest, lambda r: r["ingest_chunks_per_s"])
    row("ingest: raw embed_documents chunks/s (before+after)", ingest, lambda r: r["encode_chunks_per_s"])
    row("ingest: ratio end-to-end / raw", ingest, lambda r: r["ratio"])
    row("ingest: seconds end-to-end", ingest, lambda r: r["ingest_seconds"])
    row("ingest: peak RSS MB", ingest, lambda r: r["peak_rss_mb"])
    row("ingest: load avg 1 min (at end)", ingest, lambda r: r["loadavg"][0])
    if ingest and ask:
        out.add_section()
    row("ask: chunks in store", ask, lambda r: r["ask"]["chunks"])
    row("ask: documents / towns", ask, lambda r: f"{r['ask']['documents']:,} / {r['ask']['towns']}")
    row("ask: chain p50 / p95 ms", ask, lambda r: r["ask"]["chain"])
    row("ask: chain, town filter p50 / p95 ms", ask, lambda r: r["ask"]["chain_filter"])
    row("floor: embed_query + query p50 / p95 ms", ask, lambda r: r["ask"]["floor"])
    row("floor: same, where town p50 / p95 ms", ask, lambda r: r["ask"]["floor_filter"])
    row(
        "ask: refused (unfiltered / filter)",
        ask,
        lambda r: f"{r['ask']['refused']} / {r['ask']['refused_filter']}",
    )
    row("ask: first ask, index built from the store s", ask, lambda r: r["ask"]["first_ask_s"])
    row("ask: peak RSS MB", ask, lambda r: r["ask"]["peak_rss_mb"])
    row("store: disk MB (Chroma)", ask, lambda r: r["disk_mb"])
    row("store: saved search index MB", ask, lambda r: r.get("index_mb"))
    row(
        "store: fill s (corpus: real ingest)",
        ask,
        lambda r: r["build"].get("fill_seconds", r["build"].get("ingest_seconds")),
    )
    row("store: fill peak RSS MB", ask, lambda r: r["build"]["peak_rss_mb"])
    row("cold start to first answer (saved index) s", ask, lambda r: r.get("cold", {}).get("wall_s"))
    row(
        "  of which import / open / answer s",
        ask,
        lambda r: (
            "/".join(f"{r['cold'][k]:g}" for k in ("import_s", "open_s", "answer_s")) if "cold" in r else None
        ),
    )
    row("ask: load avg 1 min (at end)", ask, lambda r: r["ask"]["loadavg"][0])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=sizes, help="shorthand: ingest and ask at these, cold at corpus and the largest"
    )
    parser.add_argument("--ingest-sizes", type=sizes, help=DEFAULTS["ingest"])
    parser.add_argument("--ask-sizes", type=sizes, help=DEFAULTS["ask"])
    parser.add_argument("--cold-sizes", type=sizes, help=DEFAULTS["cold"])
    parser.add_argument("--repeat", type=int, default=1, help="passes over the questions per ask timing")
    parser.add_argument(
        "--profile", type=int, default=5, help="asks of each kind to profile at the largest size"
    )
    parser.add_argument(
        "--backends", type=int, default=256, help="passages per embedding backend compared (0: skip)"
    )
    parser.add_argument("--ocr-pages", type=int, default=10, help="scanned pages OCR'd (0: skip)")
    parser.add_argument("--work-dir", type=Path, help="keep the stores here (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench.json")
    parser.add_argument("--label", default="", help="a note stored with the results (e.g. 'before')")
    args = parser.parse_args()
    quick = [s for s in args.sizes or [] if s != CORPUS]
    if args.ingest_sizes is None:
        args.ingest_sizes = quick or sizes("1000,10000")
    if args.ask_sizes is None:
        args.ask_sizes = quick or sizes("1000,10000,100000")
    if args.ask_sizes:
        args.ask_sizes = [CORPUS, *(s for s in args.ask_sizes if s != CORPUS)]  # filled stores copy it
    if args.cold_sizes is None:
        args.cold_sizes = [CORPUS, args.ask_sizes[-1]] if args.ask_sizes else []
    largest = args.ask_sizes[-1] if args.ask_sizes else None
    report: dict[str, Any] = {
        "label": args.label,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "source": source_info(),
        "settings": {
            k: v for k, v in os.environ.items() if k.startswith("PLAINSIGHT_") and not SECRET.search(k)
        },
        "loadavg_start": loadavg(),
        "backends": [],
        "ocr": {},
        "ingest": {},
        "ask": {},
    }
    print(f"load average at start: {report['loadavg_start']}", flush=True)
    started = time.perf_counter()
    if args.backends:
        report["backends"] = compare(args.backends)
    if args.ocr_pages:
        print(f"ocr: {args.ocr_pages} scanned pages", flush=True)
        report["ocr"] = run_worker("bench.ocr", "--pages", str(args.ocr_pages), "--json")
    for n in args.ingest_sizes:
        report["ingest"][n] = run_ingest(n)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="plainsight-bench-"))
    try:
        for size in args.ask_sizes:
            profile = args.profile if size == largest else 0
            report["ask"][size] = run_ask(size, work, args.repeat, profile, size in args.cold_sizes)
            if size != CORPUS and not args.work_dir:
                shutil.rmtree(work / size)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    report["loadavg_end"] = loadavg()
    report["minutes"] = round((time.perf_counter() - started) / 60, 1)
    Console(width=160).print(table(report))
    if report["backends"]:
        Console(width=160).print(backends_table(report["backends"]))
    if ocr := report["ocr"]:
        print(
            f"OCR: {ocr['pages']} scanned pages in {ocr['seconds']} s = {ocr['pages_per_s']} pages/s "
            f"({ocr['dpi']} dpi, {ocr['languages']}, mean confidence {ocr['mean_confidence']})"
        )
    print(f"load average: start {report['loadavg_start']}, end {report['loadavg_end']} (1/5/15 min)")
    print(f"took {report['minutes']} min; JSON in {args.out}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
