"""Every answer has a named outcome, and its invariants hold where it is made: an answer cites its
sources, a refusal cites nothing and says why, a partly answered question says which part the
documents don't answer, and sources of different kinds that disagree are shown side by side."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from bot.answer import REFUSAL, STATUSES, Answer, Citation
from bot.chain import AnswerChain, Ask
from bot.core.settings import Settings
from bot.filters import Filters
from bot.question import names_in, standalone
from ingest.pipeline import ingest_paths

ACLU = """---
doc_id: quillfield-aclu-report
title: "Quillfield's plate data and ICE"
publisher: ACLU of Quillshire
doc_type: report
jurisdiction: "Quillfield, QS"
---

The ACLU of Quillshire found that the Quillfield Police Department shared license plate reader data \
with Immigration and Customs Enforcement through a national database in 2024.
"""
POLICE = """---
doc_id: quillfield-police-statement
title: "Quillfield Police Department statement on plate readers"
publisher: Quillfield Police Department
doc_type: policy
jurisdiction: "Quillfield, QS"
---

Quillfield Police Chief Dana Morrow said the department has never shared plate reader data with \
immigration agents and does not allow ICE to search its records. Drone video recorded in Quillfield \
is kept for 45 days unless it becomes evidence in a criminal case.
"""
ATLAS = """City,Agency,Technology,Vendor
Tiburon,Tiburon Police Department,Drones,DJI
Tiburon,Tiburon Police Department,Automated License Plate Readers,Vigilant Solutions
Tiburon,Tiburon Police Department,Camera Registry,
Belmont,Belmont Police Department,Body-worn Cameras,Axon
Sausalito,Sausalito Police Department,Drones,DJI
South Tiburon,South Tiburon Police Department,Body-worn Cameras,Axon
"""


@pytest.fixture(scope="module")
def quillfield(tmp_path_factory, embeddings) -> AnswerChain:
    from bot.core.store import Store

    folder = tmp_path_factory.mktemp("quillfield")
    (folder / "aclu.md").write_text(ACLU, encoding="utf-8")
    (folder / "police.md").write_text(POLICE, encoding="utf-8")
    (folder / "atlas.csv").write_text(ATLAS, encoding="utf-8")
    store = Store(Settings(data_dir=folder / "data"), embeddings=embeddings)
    assert ingest_paths(store, [folder]).count("added") == 3
    # the cut-off is the fitted model's business (held by tests/test_realdocs_eval.py on real documents);
    # on three tiny documents these tests prove what is quoted and how, so nothing is refused for support
    return AnswerChain(Settings(data_dir=folder / "data", refusal_threshold=0.0), store)


def citation(n: int) -> Citation:
    return Citation(n, "d", "d#0", "T", "", "", "", "policy", "", None, "", "quote", 0.5, "official")


def test_an_answer_without_citations_cannot_be_made():
    with pytest.raises(ValueError):
        Answer("q", "Something is true.", False)
    with pytest.raises(ValueError):
        Answer("q", "Something is true. [2]", False, (citation(1),))


def test_a_refusal_that_cites_something_cannot_be_made():
    with pytest.raises(ValueError):
        Answer("q", "The documents don't say.", True, (citation(1),))
    with pytest.raises(ValueError):
        Answer("q", "x [1]", False, (citation(1),), status="refused_no_evidence")


def test_every_status_has_words_for_the_reader():
    assert set(STATUSES) == {
        "answered", "partial", "refused_no_evidence", "refused_unknown_place", "refused_off_topic",
    }  # fmt: skip
    assert Answer("q", "x [1]", False, (citation(1),)).status == "answered"
    assert Answer("q", "no", True).status_text == STATUSES["refused_no_evidence"]


def test_outcomes_are_named_for_why_the_bot_refused(corpus_store):
    chain = AnswerChain(Settings(data_dir=corpus_store.settings.data_dir), corpus_store)

    assert chain.invoke("Who won the 2024 World Series?").status == "refused_off_topic"
    assert chain.invoke("Does Springfield share plate data with ICE?").status == "refused_unknown_place"
    assert chain.invoke("How long does Minnesota let police keep plate data?").status == "answered"


def test_sources_of_different_kinds_that_disagree_are_shown_side_by_side(quillfield: AnswerChain):
    answer = quillfield.invoke("Did Quillfield police share plate reader data with ICE?")

    assert answer.status == "answered", answer.text
    kinds = {side.kind for side in answer.sides}
    assert kinds == {"advocacy", "official"}, answer.sides
    cited = {c.n: c.doc_id for c in answer.citations}
    by_kind = {side.kind: {cited[n] for n in side.citations} for side in answer.sides}
    assert by_kind == {"advocacy": {"quillfield-aclu-report"}, "official": {"quillfield-police-statement"}}


def test_a_question_of_two_asks_says_which_one_the_documents_do_not_answer(quillfield: AnswerChain):
    answer = quillfield.invoke("How long does Quillfield keep drone video, and how much did the drones cost?")

    assert answer.status == "partial", answer.text
    assert "45 days" in answer.text
    assert answer.unanswered == "how much did the drones cost"
    assert answer.text.endswith("The documents I have don't answer this part: how much did the drones cost?")


def test_a_question_about_a_place_a_dataset_covers_lists_all_its_records(quillfield: AnswerChain):
    answer = quillfield.invoke("What surveillance technology does the Tiburon police department have?")

    assert not answer.refused, answer.text
    for technology in ("Drones", "Automated License Plate Readers", "Camera Registry"):
        assert technology in answer.text
    rows = [c for c in answer.citations if c.doc_id == "atlas"]
    assert len(rows) == 3  # every Tiburon record, each cited on its own
    assert "Belmont" not in answer.text and "Sausalito" not in answer.text
    assert "South Tiburon" not in answer.text  # its rows hold Tiburon's words, but it is another town
    assert "Quillfield" not in answer.text  # documents about another place stay out of the listing


def test_an_agency_is_known_by_its_town_whatever_the_documents_call_it(quillfield: AnswerChain):
    # "Tiburon PD" was "a place the documents don't mention" where they write "Tiburon Police Department"
    assert quillfield.index.knows("Tiburon PD") and quillfield.index.knows("Tiburon Sheriff's Office")
    assert not quillfield.index.knows("Springfield PD")


def test_an_agency_s_records_are_its_town_s_not_a_town_whose_name_holds_it(quillfield: AnswerChain):
    # realdocs ra-063: "St. Paul, Minnesota" was listed with South, North and West St. Paul's rows
    # first; an agency named as residents name it ("Tiburon PD") is its town's rows ("City: Tiburon.")
    answer = quillfield.invoke("What surveillance technology does the Tiburon PD have?")

    assert "Vigilant" in answer.text and "South Tiburon" not in answer.text, answer.text


SHARING = """Name,State,Type
Ada County ID SO,ID,Sheriff's Office
Pocatello ID PD,ID,Police Department
Lane County OR SO,OR,Sheriff's Office
Salem OR PD,OR,Police Department
Bend OR PD,OR,Police Department
Quillfield QS PD,QS,Police Department
Home Depot Corporation,??,Private Business
Lowe's Corporation,??,Private Business
"""
AGENCIES = """City,State,Agency,Technology
Idaho Falls,ID,Idaho Falls Police Department,Drones
Idaho Falls,ID,Bonneville County Sheriff's Office,Automated License Plate Readers
Meridian,ID,Idaho State Police,Automated License Plate Readers
"""


@pytest.fixture
def sharing(tmp_path, embeddings, monkeypatch) -> AnswerChain:
    """A town's list of the agencies it shares plate data with, beside an Atlas of agencies."""
    from bot.core.store import Store

    # as in a store of thousands of chunks, where the list's own words ("Flock", "share", the
    # town) are in too many rows to name a place, and "ID" is in the Atlas's rows as well
    monkeypatch.setattr("bot.retrieve.RARE_ROWS", 4)

    (tmp_path / "quillfield-flock-data-sharing-list.csv").write_text(SHARING, encoding="utf-8")
    (tmp_path / "atlas-agencies.csv").write_text(AGENCIES, encoding="utf-8")
    store = Store(Settings(data_dir=tmp_path / "data"), embeddings=embeddings)
    assert ingest_paths(store, [tmp_path]).count("added") == 2
    return AnswerChain(Settings(data_dir=tmp_path / "data", refusal_threshold=0.0), store)


def test_a_dataset_retrieval_found_lists_the_rows_a_question_word_picks_out(sharing: AnswerChain):
    # rb-046: "Which Idaho police or sheriff's offices share their Flock data with Eugene PD?" was
    # answered with the Atlas's Idaho agencies; the rows are the sharing list's state-ID ones
    step = sharing.prepare(Ask("Which Idaho agencies share their Flock data with Quillfield?"))

    assert {r.chunk.metadata["doc_id"] for r in step.records} == {"quillfield-flock-data-sharing-list"}
    assert sorted(r.chunk.text.split(".")[0] for r in step.records) == [
        "Name: Ada County ID SO", "Name: Pocatello ID PD"
    ]  # fmt: skip


def test_the_dataset_s_own_name_picks_out_none_of_its_rows(sharing: AnswerChain):
    # blind bl-039: "Which private businesses share Flock camera data with the Eugene Police
    # Department?" picked out Eugene's own row of Eugene's list, and quoted other towns' FAQs
    question = "Which private businesses share Flock data with the Quillfield police?"
    step = sharing.prepare(Ask(question))
    answer = sharing.invoke(Ask(question))

    assert sorted(r.chunk.text.split(".")[0] for r in step.records) == [
        "Name: Home Depot Corporation", "Name: Lowe's Corporation"
    ]  # fmt: skip
    assert "Home Depot" in answer.text and "Lowe's" in answer.text


FOLLOW_UPS = [  # (earlier question, follow-up, what must carry over): real-document conversations
    ("What does the Wayzata police ALPR policy say about retention?", "Who can they share it with?",
     ["Wayzata", "ALPR"]),
    ("Did St. Paul police pass their 2019 plate reader audit?", "Were they using fixed cameras then?",
     ["St. Paul"]),
    ("Does Eugene have a contract with Flock?", "Who signed it for the city?",
     ["Eugene", "Flock", "contract"]),
    ("What did Westport's police chief say about the ACLU report on ICE?",
     "And what did Norwalk's chief say?", ["ACLU", "ICE"]),
]  # fmt: skip


@pytest.mark.parametrize("earlier, follow_up, carried", FOLLOW_UPS)
def test_a_follow_up_keeps_the_subject_of_the_conversation(earlier: str, follow_up: str, carried: list[str]):
    rewritten = standalone(
        follow_up, [{"role": "user", "content": earlier}, {"role": "assistant", "content": "…"}]
    )

    assert rewritten.startswith(follow_up.rstrip("?"))
    for subject in carried:
        assert subject in rewritten
    assert "Westport" not in rewritten  # a new place replaces the old one


def test_a_follow_up_over_real_wording_finds_the_subjects_document(quillfield: AnswerChain):
    history = (
        {"role": "user", "content": "What did the Quillfield police chief say about ICE?"},
        {"role": "assistant", "content": "Chief Dana Morrow said the department never shared data."},
    )

    answer = quillfield.invoke(Ask("And how long do they keep drone video?", history))

    assert "45 days" in answer.text, answer.question


@pytest.mark.parametrize(
    "question, unit, supplied",
    [  # the real and test cases that shaped the patterns of `bot.answerability.ASKED`
        ("How long does Fairhaven keep plate data?", "Plate reads are kept for fourteen days.", True),
        ("How long does Buena Park keep data?", "Data retention (in days)\n30 days", True),
        # blind bl-025 / realdocs rb-019: "keeping" and "hang onto" ask for a duration too
        ("is Newport Beach keeping plate scans for a year??", "Data retention (in days)\n365 days", True),
        ("is Newport Beach keeping plate scans for a year??", "Data is owned by Newport Beach PD.", False),
        ("how long do Eugene's cams hang onto pics of my car", "Plate images are kept for 30 days.", True),
        ("How many plates did St. Paul scan in 2019?", "It met MN Statute 13.824 in 2019.", False),
        ("How many Flock cameras does Buena Park have?", "Number of LPR and other cameras\n13", True),
        # blind bl-070 / bl-080: a number that counts something else is no answer to "how many X"
        ("How many license plate readers does Seattle operate?", "Seattle accepted the 2023 report on 3 "
         "surveillance technologies.", False),
        ("How many license plate readers does Seattle operate?", "Seattle runs 14 ALPR cameras.", True),
        ("How many arrests has the Chula Vista drone program led to?", "Chula Vista flies 6 drones from "
         "five launch sites.", False),
        ("How many searches a month did ICE run?", "ICE ran 9,000 queries a month.", True),  # starter q006
        ("How many searches a month did ICE run?", "ICE queried it thousands of times each month.", True),
        ("How many launch sites does Chula Vista fly from?", "Chula Vista flies drones from five launch "
         "sites.", True),
        ("How much is Woodbury paying Flock?", "Woodbury retained a consortium to audit its system.", False),
        ("What company makes Albert Lea's readers?", "The policy of the Albert Lea Police Department", False),
        ("And who does Lakeside share the data with?", "Lakeside shares plate data with other Connecticut "
         "agencies only for an active criminal investigation.", True),
        ("Who gets Norwalk's plate data?", "Norwalk's plate reads were searched for ICE.", True),
        ("Who can see Norwalk's plate data?", "Norwalk keeps ALPR data for 30 days.", False),
        # realdocs rb-007, blind bl-050: "in charge of" asks for a name, not a charge
        ("Who is in charge of Eugene's plate reader program?", "ALPR data retention and access shall be "
         "managed by the Investigations Captain.", True),
        # residents rs-066: a portal counts vehicles, a resident asks about cars
        ("How many cars did the Buena Park cameras pick up in the last month?",
         "Vehicles detected in the last 30 days\n760,198", True),
        ("How many cars did the Buena Park cameras pick up in the last month?",
         "Number of cameras\n13", False),
        # blind bl-037: "how much of" asks for a share, not an amount of money
        ("how much of the plate data cali cops scoop up has anything to do with a crime", "99.9% of this "
         "surveillance data was not actively related to an investigation.", True),
        # realdocs rb-061, residents rs-046, rn-063, rn-068: a person asked for by role was
        # "answered" with the agency's name; a person's name is a titled or a given name
        ("Which Okaloosa deputies ran the plate searches that had no reason listed?",
         "The Okaloosa County Sheriff's Office ran 14 searches with no reason listed.", False),
        ("Who is the police chief in Buena Park, California?",
         "The Buena Park Police Department operates 13 Flock cameras.", False),
        ("Which Virginia officer said that?", "The Virginia Beach Police Department said so.", False),
        ("Who signed it for the city?", "03/24/2025\nSarah Medary", True),
        ("What's the name of the Okaloosa deputy who ran it?", "Deputy Eric Aden ran it.", True),
        ("What's the name of the Okaloosa deputy who ran it?", "Sheriff Eric Aden says it helps.", False),
        # realdocs rb-046: an agency's "sheriff's offices" are no person
        ("Which Idaho police or sheriff's offices share their data with Eugene?",
         "Ada County Sheriff's Office, Boise Police Department", True),
        # people pp-021, pp-024, pp-031: a contraction or a town's possessive asks for a person too
        ("Who's the Marinview police chief?", "The Marinview Harbor Patrol flies two drones.", False),
        ("Who is Marinview's police chief?", "The Marinview Harbor Patrol flies two drones.", False),
        ("whats the name of the guy who ran it", "The Marinview Harbor Patrol ran it.", False),
        ("whats the name of the guy who ran it", "Detective Ada Quill ran it.", True),
        # people2 pq-003: a title inside a longer capitalised run; an agency list's "Glen Cove NY PD"
        ("which oakland mayor warned residents?", "Oakland Mayor Libby Schaaf warned residents.", True),
        ("Who is the Okaloosa County sheriff?", "Glen Cove NY PD\nPurcell OK PD", False),
        # who may is answered by a role, not a name
        ("Which officers can search the plate data?", "Only trained officers with a need to know.", True),
        ("Who is the ALPR administrator?", "The Investigations Division Commander runs it.", True),
        # blind3 b3-045, b3-048 and people2 pq-024: a person in another role is not the one asked for
        ("Who is the Eugene police chief?", "Mayor Sarah Medary signed it.", False),
        ("Who is the Liberty police chief?", "Liberty Police Captain Nathan Mulch says it helps.", False),
        ("Who is the Liberty police chief?", "Police Chief Dana Morrow says it helps.", True),
        ("Who's the CEO of Vigilant Solutions?", "Brian Shockley, Vice President of Marketing", False),
        ("Which Liberty police captain spoke up?", "Liberty Police Captain Nathan Mulch says so.", True),
        # blind4 b4-029: the role asked for, not one the question mentions after it
        ("Who is the Riverside sheriff? The one running for governor.", "It is headed by Sheriff Chad "
         "Bianco.", True),
        # blind4 b4-044, b4-055, b4-059, b4-012, b4-019 (its tune half): more ways to ask for a
        # person, a company, a length of time or a count
        ("liberty police chief - what's his name?", "Liberty Police Captain Nathan Mulch says so.", False),
        ("What's the name of Enfield's police chief?", "The Enfield Police Department signed it.", False),
        ("st paul's readers - who's the vendor?", "The Saint Paul Police Department: 367 Grove.", False),
        ("Chula Vista PD: do they keep the video from the drones?", "Chula Vista flies drones from five "
         "launch sites.", False),
        ("What were the total plate detections for 2017?", "The program reads plates.", False),
        ("What is the total cost of the contract?", "The contract costs $42,000 a year.", True),
        # blind3 b3-047: an agency's "Sheriff's Office" names no sheriff
        ("who is the Orange County sheriff?", "Dave Maass asked the Orange County Sheriff's Office.", False),
        # realdocs ra-033, blind bl-074, residents2 rn-072: a policy that names no company
        ("Which vendor supplies Marinview's cameras?", "The Department of Public Safety runs them.", False),
        ("What company makes Albert Lea's readers?", "Albert Lea bought them from Vigilant Solutions.", True),
        ("Who makes the policy manual?", "Copyright Lexipol, LLC 2024", True),
        # realdocs rb-064, residents rs-054, rs-049, residents2 rn-076: a proposal is no outcome
        ("Did Maine's LD 1561 bill end up passing?", "Sen. Damon made his case for LD 1561 at a "
         "public hearing.", False),
        ("Did Somerville's council pass the ban?", "The City Council voted unanimously for the ban.", True),
        ("how did the Aurora family's lawsuit end up?", "The family's lawsuit led to a $1.9 million "
         "settlement.", True),
        ("Did a court force Chula Vista to release drone video?", "Chula Vista signed an agreement "
         "with Ring in 2019.", False),  # an outcome of something else
        # realdocs rb-015: "end up reporting" asks a count, not an outcome
        ("How many readers did Elk River end up reporting to the BCA?", "Elk River reported 15 ALPR "
         "devices to the BCA.", True),
        # residents rs-090: "how long have they used them" is answered by a year, a retention
        # question is not
        ("How long have Minneapolis police used plate readers?", "They have used them since 2009.", True),
        ("How long does Seattle keep plate data?", "Seattle has used readers since 2009.", False),
    ],
)  # fmt: skip
def test_what_a_question_asks_for_is_supplied_only_beyond_its_own_words(question, unit, supplied):
    from bot.answerability import asked_types, supplies

    assert all(supplies(shape, unit, question) for _, shape in asked_types(question)) is supplied


@pytest.mark.parametrize(
    "question, said",
    [  # realdocs rb-060, blind bl-067/bl-069/bl-079/bl-080, starter q050: answered with related sentences
        ("How much did Quillfield pay for its drones?", "the amount"),
        ("How many plate readers does the Quillfield Police Department run?", "the number"),
        # realdocs ra-037, rb-056: a count or a length for a year no document covers
        ("How long was Quillfield drone video kept in 2031?", "the length of time"),
    ],
)
def test_a_number_no_document_gives_is_refused_not_guessed(quillfield: AnswerChain, question, said):
    answer = quillfield.invoke(question)

    assert answer.status == "refused_no_evidence" and not answer.citations, answer.text
    assert answer.text.startswith(f"The documents I have don't give {said} you asked about.")


MARINVIEW = (  # one document that gives no date and names no person
    "# Marinview drones\n\nThe Marinview Police Department flies two drones from the roof of its "
    "station on Harbor Street. Drone video is kept for 30 days unless it is evidence. A sergeant "
    "reviews every flight log each month.\n"
)


@pytest.mark.parametrize(
    "question, said",
    [  # residents2 rn-080: "When was the plate reader at Hudson Road and Radio Drive in Woodbury
        # installed?" was answered with the BCA record of Woodbury's reader locations, which has no date
        ("When did the Marinview police start flying drones from Harbor Street?", "the date"),
        # realdocs rb-061 "Which Okaloosa deputies ran the plate searches that had no reason
        # listed?" was answered with the sheriff's office's sentences, which name no deputy
        ("Which Marinview sergeant reviews the drone flight logs?", "the name of the person"),
        # realdocs ra-033: a policy that names no vendor was quoted for "What company makes ...?"
        ("Which company makes the Marinview police drones?", "the company"),
        # realdocs rb-064: a bill's hearing was quoted for "Did it end up passing?"
        ("Did the Marinview council end up voting to ground the police drones?", "the outcome"),
    ],
)
def test_a_date_a_person_a_company_or_an_outcome_no_document_gives_is_refused(
    tmp_path, embeddings, question, said
):
    from bot.core.store import Store

    (tmp_path / "marinview.md").write_text(MARINVIEW, encoding="utf-8")
    store = Store(Settings(data_dir=tmp_path / "data"), embeddings=embeddings)
    ingest_paths(store, [tmp_path / "marinview.md"])
    chain = AnswerChain(Settings(data_dir=tmp_path / "data", refusal_threshold=0.0), store)

    answer = chain.invoke(question)

    assert answer.status == "refused_no_evidence", answer.text
    assert answer.text.startswith(f"The documents I have don't give {said} you asked about.")


def test_a_person_a_document_names_is_quoted(quillfield: AnswerChain):
    answer = quillfield.invoke("Who is the Quillfield police chief?")

    assert answer.status == "answered" and "Dana Morrow" in answer.text, answer.text


def test_a_year_a_when_question_names_is_where_to_look_from_not_the_answer(quillfield: AnswerChain):
    # residents rs-001: "When did Seattle first pass rules ..., before the 2017 ordinance?" was
    # refused once dates were required, because no dated unit also said 2017
    answer = quillfield.invoke(
        "When did Quillfield police share plate reader data with ICE, after the 2019 audit?"
    )

    assert answer.status == "answered" and "2024" in answer.text, answer.text


def test_a_number_a_document_gives_leads_the_answer(quillfield: AnswerChain):
    answer = quillfield.invoke("How long does Quillfield keep drone video?")

    assert answer.status == "answered" and "45 days" in answer.text


@pytest.mark.parametrize("year, missing", [("2024", 0.0), ("2031", 1.0)])
def test_a_year_the_answer_does_not_hold_is_seen_as_missing(quillfield: AnswerChain, year, missing):
    # real cases: "How many searches did ICE run in 2020?" answered with a count for 2018 (ra-037),
    # "How many Flock cameras did Newport Beach have back in 2021?" with another year's (rb-056)
    answer = quillfield.invoke(Ask(f"Did Quillfield share plate data with ICE in {year}?", explain=True))
    judged = next(t for t in answer.trace if "answerability" in t)["answerability"]
    assert judged["years_missing"] == missing


def test_unfitted_models_that_calibrating_starts_from_judge_nothing():
    from bot.answer import GroundedAnswerer
    from bot.answerability import Models

    models = Models.unfitted()
    assert (
        GroundedAnswerer(None, models=models).models.answerable.probability(
            dict.fromkeys(models.answerable.names, 1.0)
        )
        == 0.5
    )


def test_a_place_the_documents_write_as_a_name_is_named_when_typed_in_lower_case(make_store):
    # blind bl-025 "is newport beach keeping plate scans ...": no capitals, so no place, and the
    # answer quoted Woodbury's retention for Newport Beach's
    store = make_store()
    text = " ".join(
        f"The {n} report from Marrowdale says plate reads in Marrowdale are kept for 30 days."
        for n in ("first", "second", "third", "fourth", "fifth")
    )
    folder = store.settings.data_dir.parent / "docs"
    folder.mkdir()
    (folder / "marrowdale.md").write_text(f"# Plate readers\n\n{text}\n", encoding="utf-8")
    assert ingest_paths(store, [folder]).count("added") == 1
    chain = AnswerChain(store.settings, store)
    asked = chain.prepare(Ask("how long does marrowdale keep plate reads?")).question
    assert asked == "how long does Marrowdale keep plate reads?"  # "plate", "reads" stay words


def test_proper_words_are_the_ones_written_capitalised_nearly_always():
    from bot.index_parts import case_counts

    counts = case_counts(
        ["We met in Okaloosa and Okaloosa County.", "the Police said police in a Police car"]
    )
    assert counts["okaloosa"] == [2, 0] and counts["police"] == [2, 1]
    # an address or a file name is no lower-case use of the word
    assert case_counts(["the Okaloosa sheriff", "see www.okaloosa.org or okaloosa-so-flock"]) == {
        "okaloosa": [1, 0]
    }


@pytest.mark.parametrize(
    "name, said, share",
    [
        ("Orange County Sheriff's Department", {"orange", "county", "sheriff's", "office"}, 1.0),
        ("Woodbury's Flock", {"woodbury", "flock"}, 1.0),
        ("Newport Beach", {"woodbury", "beach"}, 0.5),
        ("Police Department", {"woodbury"}, 1.0),  # no name of its own: nothing to miss
    ],
)
def test_a_name_is_judged_by_its_own_words(name, said, share):
    # blind bl-018 / bl-009: "Orange County Sheriff's Department" and "Woodbury's Flock" were
    # "missing" from answers quoting the Orange County Sheriff's Office and Woodbury's audit
    from bot.answer import named_share

    assert named_share(name, said) == share


def test_room_for_the_other_side_is_made_from_a_kind_already_quoted():
    # realdocs rb-038 "Did Flock lie about working with the feds?": a disputing unit took the last
    # place, and the one it dropped was the vendor's own statement, the other side
    from bot.answer import GroundedAnswerer, Sentence, content_words
    from bot.answerability import Models

    texts = [  # (passage, text, score): passages 0-2 are advocacy, 3 the vendor
        (0, "Flock has been hiding federal access to Flock data from the public.", 0.9),
        (1, "Flock told customers nothing about the federal pilot programs it ran.", 0.8),
        (3, "Some of our public statements inadvertently provided inaccurate information about Flock.", 0.7),
        (
            2,
            "A newsletter says Flock lied to the public; Flock however says it has no federal contract.",
            0.6,
        ),
    ]
    units = [
        Sentence(i, 0, len(t), t, np.eye(4, dtype=np.float32)[n], p, frozenset(content_words(t)))
        for n, (i, t, p) in enumerate(texts)
    ]
    answerer = GroundedAnswerer(None, models=replace(Models.unfitted(), floor=0.5, max_units=3))
    kinds = ["advocacy", "advocacy", "advocacy", "vendor"]

    chosen = answerer.select("Did Flock lie about federal contracts?", units, kinds)

    assert [c.hit_index for c in chosen] == [0, 3, 2]


def test_a_record_listed_whole_is_compared_by_words_only():
    # a listed record quoted whole has no vector of its own (`listed`): placing a unit that gives
    # the asked name before it compared an empty vector by meaning, and the answer crashed
    from bot.answer import GroundedAnswerer, Sentence, content_words
    from bot.answerability import Models

    text = "Marinview Police Department, Drones, DJI"
    record = Sentence(1, 0, len(text), text, np.zeros(0, np.float32), 0.5, frozenset(content_words(text)))
    other = "Sergeant Ada Quill reviews every flight log."
    unit = Sentence(0, 0, len(other), other, np.ones(4, np.float32) / 2, 0.9, frozenset(content_words(other)))
    answerer = GroundedAnswerer(None, models=Models.unfitted())

    assert not answerer._duplicate(record, [unit]) and not answerer._duplicate(unit, [record])


LONG_ROWS = """City,Agency,Summary,Technology,Link 1 Source
Marinview,Marinview Police Department,"The U.S. Department of Justice awarded $64,000 to the Marinview \
Police Department in 2019 as part of a federal grant program for officers' equipment, according to \
award records the department published after a public records request from a local newspaper.",\
Body-worn Cameras,U.S. Department of Justice
Marinview,Marinview Police Department,"The Marinview Police Department signed a contract in 2021 with a \
company that sells fixed and mobile cameras reading every passing vehicle, according to city council \
minutes that a local newspaper obtained and published with the contract and its price.",\
Automated License Plate Readers,Marinview City Council
"""


def test_a_listing_of_long_records_shows_the_field_the_question_names(tmp_path, embeddings):
    # realdocs ra-063, ra-065: Atlas rows were listed by their summaries, which do not say the
    # technology the question asks for; the row's own "Technology:" field does
    from bot.core.store import Store

    (tmp_path / "atlas.csv").write_text(LONG_ROWS, encoding="utf-8")
    store = Store(Settings(data_dir=tmp_path / "data"), embeddings=embeddings)
    ingest_paths(store, [tmp_path / "atlas.csv"])
    chain = AnswerChain(Settings(data_dir=tmp_path / "data", refusal_threshold=0.0), store)

    answer = chain.invoke("What surveillance technologies does the Marinview police department use?")

    assert "Technology: Body-worn Cameras." in answer.text, answer.text
    assert "Technology: Automated License Plate Readers." in answer.text
    assert "Link 1 Source" not in answer.text  # only the fields the question names


VENDOR_ROWS = """City,Agency,Summary,Technology,Vendor
Marinview,Marinview Police Department,The Marinview Police Department has used automated license plate \
readers since at least 2009.,Automated License Plate Readers,PIPS
"""


def test_a_company_is_the_one_of_the_place_asked_about(tmp_path, embeddings):
    # blind3 b3-025, b3-027: "What brand of body cameras did the Fairfield police buy?" was
    # answered with Stamford's Axon contract, "Who makes St. Paul's readers?" with Connecticut's
    from bot.core.store import Store

    (tmp_path / "stamford.md").write_text(
        "---\ntitle: Body cameras in two towns\n---\n# Body cameras\n\nThe Stamford Police Department "
        "bought its body cameras from Axon in 2018. The Fairfield Police Department bought 80 body-worn "
        "cameras in 2018.\n",
        encoding="utf-8",
    )
    store = Store(Settings(data_dir=tmp_path / "data"), embeddings=embeddings)
    ingest_paths(store, [tmp_path / "stamford.md"])
    chain = AnswerChain(Settings(data_dir=tmp_path / "data", refusal_threshold=0.0), store)

    assert "Axon" in chain.invoke("Which company makes the Stamford police body cameras?").text
    answer = chain.invoke("Which company makes the Fairfield police body cameras?")
    assert answer.status == "refused_no_evidence", answer.text
    assert answer.text.startswith("The documents I have don't give the company you asked about.")


def test_which_company_is_answered_by_a_record_s_vendor_field(tmp_path, embeddings):
    # residents rs-090: "Who makes the Minneapolis Police Department's license plate readers?" was
    # answered by the Atlas row's summary, which does not name the company its "Vendor:" field does
    from bot.core.store import Store

    (tmp_path / "atlas.csv").write_text(VENDOR_ROWS, encoding="utf-8")
    store = Store(Settings(data_dir=tmp_path / "data"), embeddings=embeddings)
    ingest_paths(store, [tmp_path / "atlas.csv"])
    chain = AnswerChain(Settings(data_dir=tmp_path / "data", refusal_threshold=0.0), store)

    answer = chain.invoke("Who makes the Marinview Police Department's license plate readers?")

    assert answer.status == "answered" and "Vendor: PIPS." in answer.text, answer.text


def test_where_is_answered_by_the_dataset_whose_records_give_locations(tmp_path, embeddings):
    # realdocs ra-072, residents rs-097: "Where are the St. Paul police department's fixed plate
    # readers?" listed the Atlas's St. Paul rows, none of which says where; the BCA's record does
    from bot.core.store import Store

    (tmp_path / "atlas.csv").write_text(ATLAS, encoding="utf-8")
    places = {
        "Tiburon Police Department": {"locations": ["Main Street at Beach Road", "Paradise Drive"]},
        "Belmont Police Department": {"locations": ["Ralston Avenue at El Camino Real"]},
    }
    (tmp_path / "alpr-locations.json").write_text(json.dumps(places), encoding="utf-8")
    store = Store(Settings(data_dir=tmp_path / "data"), embeddings=embeddings)
    ingest_paths(store, [tmp_path])
    chain = AnswerChain(Settings(data_dir=tmp_path / "data", refusal_threshold=0.0), store)

    answer = chain.invoke("Where are the Tiburon police department's license plate readers?")

    assert "Main Street at Beach Road" in answer.text, answer.text


DEFLOCKED = """id,city,state,status,info
warren-qs-2025,Warren,QS,rejected,"The town of Warren, Quillshire rejected a proposal to install \
Flock cameras."
kingstown-qs-2025,Kingstown,QS,cancelled,Kingstown has canceled its contract with Flock Safety.
bayview-qs-2025,Bayview,QS,cancelled,A unanimous vote ended Bayview's contract with Flock Safety.
salem-or-2025,Salem,OR,cancelled,Salem ended its Flock contract.
bend-or-2025,Bend,OR,paused,Bend paused its cameras.
eugene-or-2025,Eugene,OR,cancelled,Eugene terminated its Flock contract.
austin-tx-2025,Austin,TX,cancelled,Austin let its Flock contract expire.
denver-co-2025,Denver,CO,paused,Denver paused its Flock pilot.
"""


def test_a_state_s_records_are_picked_out_by_its_postal_code_and_name_it(tmp_path, embeddings, monkeypatch):
    # residents2 rn-112: "Which Rhode Island towns have ended or turned down Flock?" listed Warren
    # alone, the one row whose text says "Rhode Island"; all three have "state: RI". And realdocs
    # ra-069: the rows of "state: CT" were refused as not naming "Connecticut"
    import bot.filters
    from bot.core.store import Store

    monkeypatch.setitem(bot.filters.STATES, "QS", "Quillshire")
    (tmp_path / "deflocked.csv").write_text(DEFLOCKED, encoding="utf-8")
    store = Store(Settings(data_dir=tmp_path / "data"), embeddings=embeddings)
    ingest_paths(store, [tmp_path / "deflocked.csv"])
    chain = AnswerChain(Settings(data_dir=tmp_path / "data", refusal_threshold=0.0), store)
    # rows of bare fields are little like any question in meaning (cosine 0.31 to 0.41): on eight
    # rows alone the fitted off-topic gate would decide this test, not the records
    chain.grounded.models = replace(chain.grounded.models, off_topic=0.0)
    question = "Which Quillshire towns have ended or turned down Flock?"

    step = chain.prepare(Ask(question))
    assert {r.chunk.text.split(".")[0] for r in step.records} == {
        "id: warren-qs-2025", "id: kingstown-qs-2025", "id: bayview-qs-2025",
    }  # fmt: skip
    answer = chain.invoke(question)
    assert all(town in answer.text for town in ("Warren", "Kingstown", "Bayview")), answer.text
    assert "id: " not in answer.text  # a record's id is no part of the answer ("id: warren-qs-2025.")

    # no row says "Colorado" or "Texas": their "state: CO." and "state: TX." name them
    assert chain.index.knows("Texas") and not chain.index.knows("Vermont")
    answer = chain.invoke(Ask("Have any towns in Colorado paused Flock?", explain=True))
    features = next(t["answerability"] for t in answer.trace if "answerability" in t)
    assert "Denver" in answer.text and features["names_missing"] == 0.0


@pytest.mark.parametrize(
    "question, names",
    [  # realdocs ra-007, ra-067, rb-040, residents2 rn-003, rn-107: the opening word was a name, so
        # "Once" was the place the answer had to name, and it never did
        ("Once an ICE agent puts a plate on an alert list, how long does it stay active?", ["ICE"]),
        ("Besides drones, what surveillance tech does Chula Vista police have?", ["Chula Vista"]),
        ("Back when Maine was debating plate readers in 2010, what were the arguments?", ["Maine"]),
        ("Do police in Back Bay use drones?", ["Back Bay"]),  # inside a sentence it is a name
    ],
)
def test_a_word_capitalised_only_because_it_opens_the_question_is_no_name(question, names):
    assert names_in(question) == names


def test_a_denial_need_not_name_the_state_that_qualifies_the_town(quillfield: AnswerChain):
    # residents rs-084: "Was the Fairfield, Connecticut police department giving ICE ...?" quoted the
    # ACLU's finding, not the chiefs' "do not use the system to spy", which names no "Connecticut"
    from bot.answer import Sentence

    said = [
        "A report found that departments across Connecticut, Oakvale among them, shared plate data with ICE.",
        "Records show Oakvale officers ran searches in a national database in 2019.",
        "The database is run by a private vendor that sells access to federal agencies.",
        "Immigration agents queried the system thousands of times that year.",
        "Civil liberties groups asked the state legislature to hold hearings on the findings.",
        "The Oakvale police chief said the department did not share plate data with immigration agents.",
    ]
    ranked = [
        Sentence(
            i, 0, len(text), text, np.eye(384, dtype=np.float32)[i], 0.9 - 0.05 * i, frozenset(text.split())
        )
        for i, text in enumerate(said)
    ]
    chosen = quillfield.grounded.select(
        "Was the Oakvale, Connecticut police department giving ICE data?", ranked
    )

    assert said[-1] in [c.text for c in chosen]


def test_a_follow_up_examines_the_document_the_last_answer_quoted(tmp_path, embeddings):
    # realdocs rb-031, residents rs-070: "Who signed it?" after an answer from a contract or an
    # assessment; the passages retrieval found for the question alone were other documents'
    from bot.core.store import Store

    (tmp_path / "contract.md").write_text(
        "The City of Marrow and Flock Group Inc agree to a software services contract for plate "
        "reader cameras, for three years from April 2025.\n\nSigned for the City: Dana Reyes, City "
        "Manager.\n", "utf-8",
    )  # fmt: skip
    (tmp_path / "petition.md").write_text(
        "\n\n".join(
            f"Hundreds of Marrow residents signed a petition against the city's Flock cameras at the "
            f"{place}. Who signed it for the city? Neighbours and shop owners signed it, organisers said."
            for place in ("library", "market", "school", "town hall")
        ),
        "utf-8",
    )
    store = Store(
        Settings(data_dir=tmp_path / "data", chunk_size=200, chunk_overlap=0), embeddings=embeddings
    )
    ingest_paths(store, [tmp_path])
    chain = AnswerChain(Settings(data_dir=tmp_path / "data", k=2, chunk_size=200, chunk_overlap=0), store)
    history = (
        {"role": "user", "content": "Does Marrow have a contract with Flock?"},
        {"role": "assistant", "content": "The City of Marrow and Flock Group Inc agree to a software "
         "services contract for plate reader cameras, for three years from April 2025."},
    )  # fmt: skip

    step = chain.prepare(Ask("Who signed it for the city?", history))

    assert "contract" in {h.chunk.metadata["doc_id"] for h in step.hits}, [h.chunk.text for h in step.hits]
    elsewhere = chain.prepare(Ask("Who signed it for the city?", history, Filters(("Elsewhere, ST",))))
    assert not elsewhere.hits  # the filters hold for the last answer's document too
    refused = (history[0], {"role": "assistant", "content": REFUSAL})  # quoted no document
    after_refusal = chain.prepare(Ask("Who signed it for the city?", refused))
    assert "contract" not in {h.chunk.metadata["doc_id"] for h in after_refusal.hits}
