"""The evaluation harness on the starter question set, and the `plainsight eval --json` schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TESTS, run_cli

from bot.chain import AnswerChain
from bot.core.settings import Settings
from bot.core.store import Store
from bot.evaluate import load_cases, run

STARTER = TESTS / "eval" / "starter.jsonl"
METRIC_KEYS = {
    "questions", "hit@1", "hit@5", "mrr", "fact_recall", "refusal_accuracy", "refused_when_should",
    "answered_when_should", "citation_validity", "latency_p50_ms", "latency_p95_ms",
}  # fmt: skip
THRESHOLDS = {"hit@5": 0.95, "refusal_accuracy": 0.88}  # the whole set
# The answerer's models are fitted on the `tune` half (bot/answerability.json), so facts are held on
# the `check` half: 0.756 before the models (hand weights tuned on the whole set), 0.756 with them.
CHECK_THRESHOLDS = {"fact_recall": 0.72, "hit@5": 0.95}


@pytest.fixture(scope="module")
def starter_result(corpus_store: Store) -> dict:
    chain = AnswerChain(Settings(data_dir=corpus_store.settings.data_dir, llm=""), corpus_store)
    return run(chain, load_cases(STARTER))


def _misses(result: dict) -> str:
    rows = [
        f"{r['id']} rank={r['rank']} refused={r['refused']}/{r['should_refuse']} "
        f"facts={r['facts_found']}/{r['facts_expected']} valid={r['citations_valid']}: {r['question']}"
        for r in result["cases"]
        if r["refused"] != r["should_refuse"]
        or r["facts_found"] < r["facts_expected"]
        or not r["citations_valid"]
        or (not r["should_refuse"] and (r["rank"] is None or r["rank"] > 5))
    ]
    return "\n".join([json.dumps(result["metrics"]), *rows])


@pytest.mark.slow
def test_starter_set_meets_the_quality_thresholds(starter_result: dict):
    metrics = starter_result["metrics"]

    assert metrics["questions"] == len(load_cases(STARTER))
    assert set(metrics) == METRIC_KEYS
    failing = {k: metrics[k] for k, floor in THRESHOLDS.items() if metrics[k] < floor}
    check = starter_result["by_split"]["check"]
    failing |= {f"check {k}": check[k] for k, floor in CHECK_THRESHOLDS.items() if check[k] < floor}
    assert not failing, _misses(starter_result)


@pytest.mark.slow
def test_every_citation_on_the_starter_set_is_valid(starter_result: dict):
    assert starter_result["metrics"]["citation_validity"] == 1.0, _misses(starter_result)


def test_cli_eval_json_reports_every_metric(corpus_store: Store, tmp_path: Path):
    rows = [
        {"id": "a", "question": "How long does Minnesota let police keep plate data?",
         "expected_doc_ids": ["minnesota-alpr-law"], "expected_facts": ["60 days"], "should_refuse": False},
        {"id": "b", "question": "What about Woodbury?",
         "history": [{"role": "user", "content": "How long does Minnesota let police keep plate data?"}],
         "expected_doc_ids": ["flock-safety"], "expected_facts": [], "should_refuse": False},
        {"id": "c", "question": "Who won the 2024 World Series?", "should_refuse": True},
    ]  # fmt: skip
    questions = tmp_path / "three.jsonl"
    questions.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")

    done = run_cli(corpus_store.settings.data_dir, "eval", str(questions), "--json")

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    metrics = result["metrics"]
    assert set(metrics) == METRIC_KEYS
    assert metrics["questions"] == 3
    assert all(isinstance(v, int | float) for v in metrics.values())
    shares = METRIC_KEYS - {"questions", "latency_p50_ms", "latency_p95_ms"}
    assert all(0.0 <= metrics[k] <= 1.0 for k in shares)
    assert 0 < metrics["latency_p50_ms"] <= metrics["latency_p95_ms"]
    assert [c["id"] for c in result["cases"]] == ["a", "b", "c"]
    assert result["cases"][2]["refused"] is True
