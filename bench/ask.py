"""Warm answer latency on one store, next to its floor (one question embedding + one Chroma query).

The chain (`AnswerChain.invoke`) is timed on every single-turn starter question, unfiltered and
with a town filter (`[town, "United States"]`, the widget's shape); the floor is `embed_query` plus
`chunks.query(n_results=10)`, unfiltered and with `where` on the town. The gap between the two is
what the chain adds over the least any dense retrieval must do. The first ask is reported apart
(`first_ask_s`): it loads the model and builds the search index from the store (a filled store has
none saved yet) and saves it, so the cold start measured next (`bench.cold`) maps it from disk.

Run: `.venv/bin/python -m bench.ask DATA_DIR [--repeat 1] [--profile 5]`; prints one JSON line.
`--profile N` also writes cProfile statistics of N unfiltered and N filtered asks to
bench/results/profile-<chunks>.txt.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import RESULTS, emit, percentiles_ms, questions
from bot.chain import AnswerChain
from bot.core.settings import Settings
from bot.core.store import Store

WARM_UP = "What is an automated license plate reader?"  # not a starter question


def timed(calls: list[Callable[[], Any]]) -> tuple[list[float], list[Any]]:
    seconds, results = [], []
    for call in calls:
        started = time.perf_counter()
        results.append(call())
        seconds.append(time.perf_counter() - started)
    return seconds, results


def asking(chain: AnswerChain, question: str, town: str | None = None) -> Callable[[], Any]:
    """One chain call, filtered as the widget does for a resident's town when `town` is given."""
    if town is None:
        return lambda: chain.invoke(question)
    filters = {"jurisdictions": [town, "United States"]}
    return lambda: chain.invoke({"question": question, "filters": filters})


def fresh_chain(settings: Settings, store: Store) -> AnswerChain:
    """A new chain, warmed on a question outside the timed set: each pass starts with empty
    per-chain caches (the answerer caches sentence vectors by text, and copies share texts)."""
    chain = AnswerChain(settings, store)
    chain.invoke(WARM_UP)
    return chain


def towns_of(store: Store) -> list[str]:
    """Jurisdictions to filter on: towns ("Norwalk, CT"), real and made up, not states or countries."""
    return sorted({d.jurisdiction for d in store.documents() if "," in d.jurisdiction}) or ["Norwalk, CT"]


def profile(calls: list[Callable[[], Any]], path: Path) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [call() for call in calls])
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)
    path.write_text(text.getvalue())


def measure(data_dir: Path, repeat: int, profile_asks: int) -> dict[str, Any]:
    settings = Settings(data_dir=data_dir)
    started = time.perf_counter()
    store = Store(settings)
    AnswerChain(settings, store).invoke(WARM_UP)
    first_s = time.perf_counter() - started
    asks = questions() * repeat
    towns = towns_of(store)
    place = [towns[i % len(towns)] for i in range(len(asks))]

    def chain_pass(town_filter: bool) -> tuple[list[float], list[Any]]:
        chain = fresh_chain(settings, store)
        return timed([asking(chain, q, t if town_filter else None) for q, t in zip(asks, place)])

    def floor(q: str, town: str | None = None) -> Any:
        where = {"jurisdiction": town} if town else None
        vector = store.embeddings.embed_query(q)
        return store._chunks.query(query_embeddings=[vector], n_results=10, where=where)

    chain_s, answers = chain_pass(False)
    chain_filter_s, filtered = chain_pass(True)
    floor(WARM_UP, place[0])
    result = {
        "chunks": store.chunk_count(),
        "documents": len(store.documents()),
        "towns": len(towns),
        "first_ask_s": round(first_s, 2),
        "refused": sum(a.refused for a in answers),
        "refused_filter": sum(a.refused for a in filtered),
        "questions": len(asks),
        "chain": percentiles_ms(chain_s),
        "chain_filter": percentiles_ms(chain_filter_s),
        "floor": percentiles_ms(timed([lambda q=q: floor(q) for q in asks])[0]),
        "floor_filter": percentiles_ms(timed([lambda q=q, t=t: floor(q, t) for q, t in zip(asks, place)])[0]),
    }
    if profile_asks:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"profile-{result['chunks']}.txt"
        picks = list(zip(asks, place))[:profile_asks]
        plain, local = fresh_chain(settings, store), fresh_chain(settings, store)  # no shared caches
        profile([asking(plain, q) for q, _ in picks] + [asking(local, q, t) for q, t in picks], path)
        result["profile"] = str(path.relative_to(RESULTS.parent.parent))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--repeat", type=int, default=1, help="passes over the questions (default 1)")
    parser.add_argument("--profile", type=int, default=0, help="also profile this many asks of each kind")
    args = parser.parse_args()
    emit(measure(args.data_dir, args.repeat, args.profile))


if __name__ == "__main__":
    main()
