"""Fit the answerer's two models on the `tune` half of the team's question sets.

1. The unit ranker: for every candidate unit of every answerable `tune` question, its
   `UNIT_FEATURES` and whether it states one of the question's expected facts, learned from
   pairs within each question (`fit_ranker`); then how many of
   the best units to quote, and how close to the best one they must score (a grid, scored by
   the expected facts the answers state).
2. The answerability model: with that ranker in place, the `FEATURES` of what the answerer would
   quote for every `tune` question, and whether the question is answerable at all; its cut-off
   is the highest that refuses at most `MAX_ANSWERABLE_REFUSED` of the answerable ones, and a
   question whose best passage is less similar than any answerable one's (less a margin) is off
   topic.

Both are written, with the rows that fitted them, to `bot/answerability.json`; the `check` half
is never read here, so `plainsight eval` on it measures what the fit generalises to.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from bot.answerability import (
    FEATURES,
    UNIT_FEATURES,
    Logistic,
    Models,
    cutoff_for,
    fit_logistic,
    fit_ranker,
)
from bot.chain import AnswerChain, Ask
from bot.evaluate import Case, fact_found

MAX_ANSWERABLE_REFUSED = 0.04
FLOORS, MAX_UNITS = (0.3, 0.4, 0.5, 0.6, 0.7), (3, 4, 5)  # the selection rules tried
OFF_TOPIC_MARGIN = 0.05  # below the least similar answerable question by this much: not about these documents


def unit_rows(chain: AnswerChain, cases: list[Case]) -> list[list[Any]]:
    """[case id, label, *features] for each candidate unit of the answerable questions."""
    rows: list[list[Any]] = []
    answerer = chain.grounded
    for case in cases:
        if case.should_refuse or not case.expected_facts:
            continue
        step = chain.prepare(Ask(case.question, case.history))
        known = {h.chunk.id for h in step.hits}
        hits = [*step.hits, *(r for r in step.records if r.chunk.id not in known)]
        question, vector = step.question, step.vector
        found = answerer._sentences(hits, len(step.hits))
        if not found:
            continue
        sims = np.stack([s.vector for s in found]) @ np.asarray(vector, np.float32)
        labels = [any(fact_found(f, s.text) for f in case.expected_facts) for s in found]
        if not any(labels):
            continue  # nothing retrieved states it: the ranker cannot learn from this question
        for label, x in zip(labels, answerer.unit_features(question, hits, found, sims)):
            rows.append([case.id, int(label), *np.round(x, 4).tolist()])
    return rows


def answer_rows(chain: AnswerChain, cases: list[Case]) -> list[dict[str, Any]]:
    """The answerability features of what would be quoted, for every question that gets that far."""
    rows = []
    for case in cases:
        answer = chain.invoke(Ask(case.question, case.history, explain=True))
        step = next((t for t in answer.trace if "answerability" in t), None)
        if step is not None:
            rows.append(
                {"id": case.id, "answerable": not case.should_refuse, "features": step["answerability"]}
            )
    return rows


def best_selection(tune: list[tuple[AnswerChain, list[Case]]], ranker: Logistic) -> tuple[float, int]:
    """The floor and the number of units that state the most expected facts on the `tune`
    questions (ties: fewer units, then a higher floor: shorter answers)."""
    scored = []
    for floor, most in itertools.product(FLOORS, MAX_UNITS):
        found = 0
        for chain, cases in tune:
            chain.grounded.models = Models(ranker, chain.grounded.models.answerable, 0.0, 0.0, floor, most)
            for case in cases:
                if not case.should_refuse and case.expected_facts:
                    text = chain.invoke(Ask(case.question, case.history)).text
                    found += sum(fact_found(f, text) for f in case.expected_facts)
        scored.append((found, -most, floor))
    found, most, floor = max(scored)
    return floor, -most


def calibrate(sets: list[tuple[AnswerChain, list[Case]]], out: Path) -> dict[str, Any]:
    """Fit both models on the `tune` cases of each (chain, cases) pair and write them to `out`."""
    tune = [(chain, [c for c in cases if c.split == "tune"]) for chain, cases in sets]
    units = [row for chain, cases in tune for row in unit_rows(chain, cases)]
    x = np.array([r[2:] for r in units], np.float64)
    ranker = fit_ranker(x, np.array([r[1] for r in units]), np.array([r[0] for r in units]), UNIT_FEATURES)
    fitted = Logistic.of(ranker, UNIT_FEATURES)
    floor, most = best_selection(tune, fitted)
    for chain, _ in tune:
        chain.grounded.models = Models(fitted, chain.grounded.models.answerable, 0.0, 0.0, floor, most)
    answers = [row for chain, cases in tune for row in answer_rows(chain, cases)]
    xa = np.array([[r["features"][f] for f in FEATURES] for r in answers], np.float64)
    ya = np.array([r["answerable"] for r in answers], bool)
    answerable = fit_logistic(xa, ya.astype(int), FEATURES)
    p = Logistic.of(answerable, FEATURES).probabilities(xa)
    cutoff = cutoff_for(p, ya, MAX_ANSWERABLE_REFUSED)
    support = xa[:, FEATURES.index("passage_similarity")]
    off_topic = float(support[ya].min()) - OFF_TOPIC_MARGIN if ya.any() else 0.0
    model = {
        "ranker": ranker,
        "answerable": {**answerable, "cutoff": round(cutoff, 6), "off_topic": round(off_topic, 4)},
        "selection": {"floor": floor, "max_units": most},
        "fitted_on": {
            "questions": sum(len(cases) for _, cases in tune),
            "units": len(units),
            "answers": len(answers),
            "answerable_refused": round(float((p[ya] < cutoff).mean()), 4) if ya.any() else 0.0,
            "unanswerable_refused": round(float((p[~ya] < cutoff).mean()), 4) if (~ya).any() else 0.0,
        },
        "unit_rows": {"columns": ["id", "label", *UNIT_FEATURES], "rows": units},
        "answer_rows": answers,
    }
    out.write_text(json.dumps(model, separators=(",", ":")) + "\n", encoding="utf-8")
    return model
