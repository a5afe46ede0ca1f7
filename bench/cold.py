"""Cold start to first answer: a fresh interpreter imports, opens the store and answers one question.

What a restarted server, a new Streamlit session process or a CLI call pays before it can answer,
with the search index that an earlier process saved (`bot.index_parts`).
`cold_start` times the whole thing from the parent (interpreter start-up included) until the
child prints its answer; the child adds its own split: imports, opening store and chain, answer.

Run: `.venv/bin/python -m bench.cold DATA_DIR` (prints one JSON line).
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

QUESTION = "Does Norwalk share plate data with ICE?"


def child(data_dir: Path) -> None:
    from bot.chain import AnswerChain
    from bot.core.settings import Settings
    from bot.core.store import Store

    imported = time.perf_counter()
    settings = Settings(data_dir=data_dir)
    chain = AnswerChain(settings, Store(settings))
    opened = time.perf_counter()
    answer = chain.invoke(QUESTION)
    done = time.perf_counter()
    split = {"import_s": imported - STARTED, "open_s": opened - imported, "answer_s": done - opened}
    print(json.dumps({**{k: round(v, 2) for k, v in split.items()}, "refused": answer.refused}), flush=True)


def cold_start(data_dir: Path) -> dict:
    """Wall time from launching `python -m bench.cold` until its answer line arrives."""
    from bench.common import ROOT, worker_env

    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.cold", str(data_dir)],
        cwd=ROOT,
        env=worker_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    wall = time.perf_counter() - started
    proc.wait()
    if not line:
        raise RuntimeError(f"cold start on {data_dir} failed with exit code {proc.returncode}")
    return {"wall_s": round(wall, 2), **json.loads(line)}


if __name__ == "__main__":
    child(Path(sys.argv[1]))
