"""The team's own real-document questions (`tests/eval/realdocs.jsonl`), asked of a store holding
../shared/seed, realdocs and realdocs2, as a resident would ask them.

The models in `bot/answerability.json` are fitted on the `tune` half only; the `check` half is held
to floors here, and so is all of `tests/eval/blind.jsonl` (80 questions a helper wrote from the
documents alone, without seeing the bot or the other set; nothing is fitted on it) and the `check`
halves of `tests/eval/residents.jsonl` and `residents2.jsonl` (100 and 120 more, written the same
way on 2026-12-04) and all of `tests/eval/people.jsonl` and `people2.jsonl` (32 each that ask for
a person by name) and of `blind3.jsonl` and `blind4.jsonl` (48 and 60 on outcomes, companies,
roles and everyday questions), so a change that helps the tuned half at the other's expense fails. The floors
are what the held-out halves measured when they were set (the issue's targets are higher: see the
README "How well it answers"), less a small margin for the embedding backend's rounding.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TESTS

from bot.answerability import FEATURES, MODEL_FILE, UNIT_FEATURES
from bot.chain import AnswerChain
from bot.core.settings import Settings
from bot.evaluate import load_cases, run, split_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
QUESTIONS = TESTS / "eval" / "realdocs.jsonl"
STARTER = TESTS / "eval" / "starter.jsonl"
CHECK_FLOORS = {  # measured on the check half when set: 0.946, 0.495, 0.75, 0.964, 0.50, 1.0
    "hit@5": 0.90,  # refused raised when the company and outcome kinds made it 0.833 (2026-12-04)
    "fact_recall": 0.44,
    "refused_when_should": 0.75,
    "answered_when_should": 0.92,
    "both_sides": 0.375,
    "citation_validity": 1.0,
}
BLIND = TESTS / "eval" / "blind.jsonl"  # written from the documents alone; never fitted on, either half
BLIND_FLOORS = {  # measured when set: 0.922, 0.545, 0.75, 0.891, 0.625, 1.0; refused since 0.8125
    "hit@5": 0.88,
    "fact_recall": 0.50,
    "refused_when_should": 0.75,
    "answered_when_should": 0.87,
    "both_sides": 0.50,
    "citation_validity": 1.0,
}

RESIDENTS = TESTS / "eval" / "residents.jsonl"  # 100 more, written blind like BLIND; never fitted on
RESIDENTS_FLOORS = {  # its check half (the tune half may be read for failures); at 0.90, 0.431, 0.60, 0.95
    "hit@5": 0.86,  # refused since 0.90
    "fact_recall": 0.38,
    "refused_when_should": 0.80,
    "answered_when_should": 0.90,
    "citation_validity": 1.0,
}  # both sides: 0 of its 4 held-out disagreements when set, so no floor
RESIDENTS2 = TESTS / "eval" / "residents2.jsonl"  # 120 more (2026-12-04), written blind; never fitted on
RESIDENTS2_FLOORS = {  # its check half (70); measured when set: 0.964, 0.565, 0.357, 0.964, 0.50, 1.0
    "hit@5": 0.92,  # refused since 0.714
    "fact_recall": 0.50,
    "refused_when_should": 0.64,
    "answered_when_should": 0.92,
    "citation_validity": 1.0,
}  # both sides: 2 of its 4 held-out disagreements when set, too few for a floor
PEOPLE = TESTS / "eval" / "people.jsonl"  # 32 asking for a person by name (2026-12-04), written blind
PEOPLE_FLOORS = {  # all of it, never fitted on; measured when set: 1.0, 0.625, 0.6875, 0.875, 1.0
    "hit@5": 0.94,
    "fact_recall": 0.56,
    "refused_when_should": 0.60,
    "answered_when_should": 0.81,
    "citation_validity": 1.0,
}
PEOPLE2 = TESTS / "eval" / "people2.jsonl"  # 32 more, written blind after the person rule was
PEOPLE2_FLOORS = {  # all of it; measured when set: 1.0, 0.50, 0.50, 0.8125, 1.0; refused since 0.8125
    "hit@5": 0.94,
    "fact_recall": 0.44,
    "refused_when_should": 0.75,
    "answered_when_should": 0.75,
    "citation_validity": 1.0,
}
BLIND3 = TESTS / "eval" / "blind3.jsonl"  # 48 on outcomes, companies and roles, written blind before
BLIND3_FLOORS = {  # the rules for them; all of it; measured when set: 0.667, 0.645, 0.708, 0.833, 1.0
    "hit@5": 0.62,
    "fact_recall": 0.58,
    "refused_when_should": 0.65,
    "answered_when_should": 0.79,
    "citation_validity": 1.0,
}
BLIND4 = TESTS / "eval" / "blind4.jsonl"  # 60 more, written blind after those rules (its tune half
BLIND4_FLOORS = {  # then shaped some cues); all of it; measured when set: 0.733, 0.548, 0.667, 0.80, 1.0
    "hit@5": 0.68,
    "fact_recall": 0.50,
    "refused_when_should": 0.60,
    "answered_when_should": 0.76,
    "citation_validity": 1.0,
}


@pytest.fixture(scope="module")
def result(real_store) -> dict:
    store, _ = real_store
    return run(AnswerChain(Settings(data_dir=store.settings.data_dir, llm=""), store), load_cases(QUESTIONS))


def test_the_question_set_has_every_kind_of_question_the_issue_asks_for():
    cases = load_cases(QUESTIONS)
    count = {c: sum(1 for x in cases if x.category == c) for c in {x.category for x in cases}}

    assert len(cases) >= 120 and len({c.id for c in cases}) == len(cases)
    assert sum(c.should_refuse for c in cases) >= 30
    assert count["follow-up"] >= 15 and all(c.history for c in cases if c.category == "follow-up")
    assert count["disagreement"] >= 15 and all(
        len(c.sides) == 2 for c in cases if c.category == "disagreement"
    )
    assert count["dataset"] >= 15
    assert {c.split for c in cases} == {"tune", "check"}


def test_the_held_out_half_holds_its_floors(result: dict):
    check = result["by_split"]["check"]

    failing = {k: check[k] for k, floor in CHECK_FLOORS.items() if check[k] < floor}
    assert not failing, json.dumps({"check": check, "tune": result["by_split"]["tune"]})


@pytest.mark.parametrize(
    ("questions", "floors"),
    [
        (BLIND, BLIND_FLOORS),
        (PEOPLE, PEOPLE_FLOORS),
        (PEOPLE2, PEOPLE2_FLOORS),
        (BLIND3, BLIND3_FLOORS),
        (BLIND4, BLIND4_FLOORS),
    ],
)
def test_the_blind_sets_hold_their_floors_on_all_of_them(real_store, questions: Path, floors: dict):
    store, _ = real_store
    chain = AnswerChain(Settings(data_dir=store.settings.data_dir, llm=""), store)
    found = run(chain, load_cases(questions))["metrics"]

    failing = {k: found[k] for k, floor in floors.items() if found[k] < floor}
    assert not failing, json.dumps(found)


@pytest.mark.parametrize(
    ("questions", "floors"), [(RESIDENTS, RESIDENTS_FLOORS), (RESIDENTS2, RESIDENTS2_FLOORS)]
)
def test_the_residents_held_out_halves_hold_their_floors(real_store, questions: Path, floors: dict):
    store, _ = real_store
    chain = AnswerChain(Settings(data_dir=store.settings.data_dir, llm=""), store)
    check = run(chain, load_cases(questions))["by_split"]["check"]

    failing = {k: check[k] for k, floor in floors.items() if check[k] < floor}
    assert not failing, json.dumps(check)


def test_every_category_is_reported_on_its_own(result: dict):
    assert set(result["by_category"]) == {
        "direct", "paraphrase", "unanswerable", "follow-up", "disagreement", "dataset",
    }  # fmt: skip
    assert "both_sides" in result["by_category"]["disagreement"]


def test_the_fitted_models_never_saw_the_check_half():
    data = json.loads(MODEL_FILE.read_text(encoding="utf-8"))

    assert data["ranker"]["features"] == list(UNIT_FEATURES)
    assert data["answerable"]["features"] == list(FEATURES)
    ids = {r["id"] for r in data["answer_rows"]} | {r[0] for r in data["unit_rows"]["rows"]}
    assert ids and all(split_of(i) == "tune" for i in ids)
    known = {c.id for path in (QUESTIONS, STARTER, RESIDENTS) for c in load_cases(Path(path))}
    assert ids <= known
