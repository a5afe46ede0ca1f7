"""Shared by the bench scripts: paths, questions, fake towns, and the figures every step reports.

Each measurement runs in its own process (`run_worker`) so that peak RSS belongs to one store size
and one model load, and a crash in one size does not lose the others.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
RESULTS = ROOT / "bench" / "results"
QUESTIONS = ROOT / "tests" / "eval" / "starter.jsonl"

# 50 made-up towns ("Ashford, CT" style, so `town_filter` can add the state), fixed so runs compare.
_STATES = ("CT", "NY", "MA", "NJ", "PA")
TOWNS = tuple(
    f"{a}{b}, {_STATES[(i * 5 + j) % len(_STATES)]}"
    for i, a in enumerate(("Ash", "Birch", "Cedar", "Elm", "Fox", "Glen", "Hawk", "Iron", "Maple", "Oak"))
    for j, b in enumerate(("brook", "dale", "field", "haven", "wick"))
)


def questions() -> list[str]:
    """Single-turn questions of the starter eval set (follow-ups need history, so are skipped)."""
    cases = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    return [c["question"] for c in cases if not c.get("history")]


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def disk_mb(path: Path, only: str | None = None) -> float:
    """Megabytes under a store directory: Chroma's files, or with `only="index"` the saved search
    index (`bot.index_parts`); never the exported ONNX models that may sit beside them."""
    top = {only} if only else None

    def counted(p: Path) -> bool:
        first = p.relative_to(path).parts[0]
        return p.is_file() and (first in top if top else first not in {"models", "index"})

    return round(sum(p.stat().st_size for p in path.rglob("*") if counted(p)) / 1e6, 1)


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    """p50/p95/max in milliseconds (n is kept so a p95 over few samples is read with care)."""
    ms = np.asarray(seconds) * 1000
    return {
        "n": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def emit(result: dict[str, Any]) -> None:
    """A worker's result: the last stdout line, as JSON, with its peak RSS and the load average."""
    result = {**result, "peak_rss_mb": peak_rss_mb(), "loadavg": loadavg()}
    print(json.dumps(result), flush=True)


def worker_env() -> dict[str, str]:
    """The caller's environment (PLAINSIGHT_* settings included), offline, without telemetry."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}


def run_worker(module: str, *args: str) -> dict[str, Any]:
    """Run `python -m module args` in a fresh process from the repo root and return its JSON result."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=worker_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{module} {' '.join(args)} failed with exit code {done.returncode}")
    return json.loads(lines[-1])
