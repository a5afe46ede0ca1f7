"""Evaluation harness: run the chain over a JSONL question set and measure what residents feel.

Retrieval (hit@1, hit@5, MRR over the documents cited or retrieved), answers (fact recall),
honesty (refusal accuracy both ways), trust (citation validity: every [n] maps to a returned
citation whose quote is found verbatim in the stored chunk), balance (both sides shown, for
questions whose sources disagree) and latency, overall, per category and per half. Each line of
the file: `question`, optional `history`, `expected_doc_ids`, `expected_facts` (each a string, or
a list of equally correct phrasings), `should_refuse`, optional `category`, `id` and, for a
disagreement, `sides` ([{label, doc_ids, facts}, ...]).

Every question set is split once, by a fixed rule on its id (`split_of`), into a `tune` half that
rules and fitted weights may be tuned on and a `check` half that nothing is tuned on.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.answer import MARK, Answer
from bot.chain import AnswerChain, Ask


@dataclass(frozen=True)
class Case:
    question: str
    history: tuple[dict, ...]
    expected_doc_ids: tuple[str, ...]
    expected_facts: tuple[str | list[str], ...]
    should_refuse: bool
    category: str = ""
    id: str = ""
    sides: tuple[dict, ...] = ()

    @property
    def split(self) -> str:
        return split_of(self.id or self.question)


def split_of(key: str) -> str:
    """`tune` or `check`, fixed by the id's SHA-256 (so adding questions never moves old ones)."""
    return "tune" if hashlib.sha256(key.encode("utf-8")).digest()[0] % 2 == 0 else "check"


def load_cases(path: Path) -> list[Case]:
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        cases.append(Case(
            row["question"], tuple(row.get("history") or ()), tuple(row.get("expected_doc_ids") or ()),
            tuple(row.get("expected_facts") or ()), bool(row.get("should_refuse")),
            row.get("category", ""), row.get("id", ""), tuple(row.get("sides") or ()),
        ))  # fmt: skip
    return cases


def fact_found(fact: str | list[str], text: str) -> bool:
    """A fact is a string, or a list of equally correct phrasings ("SB 34", "Senate Bill 34")."""
    options = [fact] if isinstance(fact, str) else fact
    return any(option.lower() in text.lower() for option in options)


def citations_valid(answer: Answer, chain: AnswerChain) -> bool:
    """Every [n] maps to a citation, and every quote is verbatim in its stored chunk."""
    numbers = {c.n for c in answer.citations}
    if any(int(n) not in numbers for n in MARK.findall(answer.text)):
        return False
    if answer.refused:
        return not answer.citations
    for c in answer.citations:
        stored = chain.store.chunk_text(c.chunk_id)
        if stored is None or c.quote not in stored:
            return False
    return True


def both_sides(case: Case, answer: Answer) -> bool | None:
    """For a disagreement: whether the answer shows every side (cites one of its documents, or
    states one of its facts). None for other questions."""
    if not case.sides:
        return None
    cited = {c.doc_id for c in answer.citations}
    return not answer.refused and all(
        cited & set(side.get("doc_ids") or ())
        or any(fact_found(f, answer.text) for f in side.get("facts") or ())
        for side in case.sides
    )


def run(chain: AnswerChain, cases: list[Case]) -> dict[str, Any]:
    rows, latencies = [], []
    for case in cases:
        ask = Ask(case.question, case.history, explain=True)
        started = time.perf_counter()
        answer = chain.invoke(ask)
        latencies.append((time.perf_counter() - started) * 1000)
        step = chain.prepare(ask)
        question, hits = step.question, step.hits
        cited = [c.doc_id for c in answer.citations]
        ranked = list(dict.fromkeys([*cited, *(h.chunk.metadata.get("doc_id") for h in hits)]))
        rank = next((i for i, d in enumerate(ranked, 1) if d in case.expected_doc_ids), None)
        text = answer.text.lower()
        facts = [f for f in case.expected_facts if fact_found(f, text)] if not answer.refused else []
        rows.append({
            "id": case.id, "category": case.category, "split": case.split, "question": case.question,
            "standalone": question, "rank": rank, "refused": answer.refused, "status": answer.status,
            "should_refuse": case.should_refuse, "facts_found": len(facts),
            "facts_expected": len(case.expected_facts), "citations_valid": citations_valid(answer, chain),
            "both_sides": both_sides(case, answer), "answer": answer.text,
            "answerability": next((t for t in answer.trace if "answerability" in t), None),
        })  # fmt: skip
    result: dict[str, Any] = {"metrics": metrics(rows, latencies)}
    result["by_split"] = {
        half: metrics([r for r in rows if r["split"] == half]) for half in ("tune", "check")
    }
    result["by_category"] = {
        name: metrics([r for r in rows if r["category"] == name])
        for name in sorted({r["category"] for r in rows if r["category"]})
    }
    result["cases"] = rows
    return result


def metrics(rows: list[dict], latencies: list[float] | None = None) -> dict[str, float]:
    answerable = [r for r in rows if not r["should_refuse"]]
    unanswerable = [r for r in rows if r["should_refuse"]]
    disputed = [r for r in rows if r.get("both_sides") is not None]
    ranks = [r["rank"] for r in answerable]
    facts_expected = sum(r["facts_expected"] for r in answerable)
    ordered = sorted(latencies or [])

    def share(items: list, test) -> float:
        return round(sum(1 for x in items if test(x)) / len(items), 4) if items else 1.0

    found = {
        "questions": len(rows),
        "hit@1": share(ranks, lambda r: r == 1),
        "hit@5": share(ranks, lambda r: r is not None and r <= 5),
        "mrr": round(statistics.fmean([1 / r if r else 0.0 for r in ranks]), 4) if ranks else 0.0,
        "fact_recall": round(sum(r["facts_found"] for r in answerable) / facts_expected, 4)
        if facts_expected
        else 1.0,
        "refusal_accuracy": share(rows, lambda r: r["refused"] == r["should_refuse"]),
        "refused_when_should": share(unanswerable, lambda r: r["refused"]),
        "answered_when_should": share(answerable, lambda r: not r["refused"]),
        "citation_validity": share(rows, lambda r: r["citations_valid"]),
    }
    if disputed:
        found["both_sides"] = share(disputed, lambda r: r["both_sides"])
    if latencies is not None:
        found["latency_p50_ms"] = round(statistics.median(ordered), 1) if ordered else 0.0
        found["latency_p95_ms"] = round(ordered[int(0.95 * (len(ordered) - 1))], 1) if ordered else 0.0
    return found
