"""Facts that are not sentences — a label and its value, a list item, a "Label: value" line, a
dataset record — are quotable units with exact offsets, and the answerer quotes them.

The cases come from the real documents that made these units necessary: Flock transparency portals
(label line, value on the next line), policy manuals (lettered items ending in ";"), and datasets.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ingest_one

from bot.answer import _is_answerable
from bot.chain import AnswerChain
from bot.core.settings import Settings
from bot.core.units import answer_units, display, kind_of, line_units

PORTAL = (
    "Buena Vista PD uses ALPR technology to capture objective evidence.\n"
    "What's Detected\n"
    "License Plates, Vehicles\n"
    "What's Not Detected\n"
    "Facial recognition, People, Gender, Race\n"
    "Acceptable Use Policy\n"
    "Data is used for law enforcement purposes only. Data is never sold to 3rd parties.\n"
    "Data retention (in days)\n"
    "30 days\n"
    "Number of LPR and other cameras\n"
    "13\n"
)
POLICY = (
    "Officers shall observe the following:\n"
    "(a) Only trained officers may operate the ALPR system, and each query\n"
    "shall record a case number;\n"
    "(b) Data may be shared with other agencies for law enforcement purposes only\n"
    "Retention period: 60 days\n"
)


def units_of(text: str) -> list[str]:
    return [text[s:e] for s, e in line_units(text)]


def test_a_label_line_and_the_value_under_it_are_one_unit():
    found = [display(u) for u in units_of(PORTAL)]

    assert "Data retention (in days): 30 days" in found
    assert "Number of LPR and other cameras: 13" in found
    assert "What's Detected: License Plates, Vehicles" in found
    assert "What's Not Detected: Facial recognition, People, Gender, Race" in found


def test_a_short_value_is_not_taken_for_the_next_label():
    found = [display(u) for u in units_of(PORTAL)]

    assert not any(u.startswith("License Plates, Vehicles:") for u in found)
    assert not any(u.startswith("Facial recognition, People, Gender, Race:") for u in found)


@pytest.mark.parametrize(
    "text",
    [  # residents rs-071, rs-070: quoted as "During a preliminary search, the: City identified ..."
        "During a preliminary search, the\nCity identified 2,637 lines of data to be reviewed.",
        "Investigative case files are temporary with a\nretention of 20 years for all HSI cases.",
        # the Seattle manual's wrapped lines, each taken for a label and its value
        "Employees will record the entire event unless specifically\ninstructed otherwise by this manual.",
    ],
)
def test_a_sentence_wrapped_over_lines_is_not_a_label_and_its_value(text: str):
    assert not any(kind_of(u) == "pair" for u in units_of(text)), units_of(text)


def test_a_label_may_end_on_a_preposition_of_its_own():
    found = [display(u) for u in units_of("Hotlists Alerted On\nCalifornia SVS, NCMEC Amber Alert\n")]

    assert found == ["Hotlists Alerted On: California SVS, NCMEC Amber Alert"]


def test_list_items_keep_their_wrapped_lines_and_fields_are_units():
    found = units_of(POLICY)

    assert (
        "(a) Only trained officers may operate the ALPR system, and each query\nshall record a case number;"
        in found
    )
    assert any(u.startswith("(b) Data may be shared") for u in found)
    assert "Retention period: 60 days" in found
    assert [kind_of(u) for u in found] == ["item", "item", "field"]


def test_every_unit_is_an_exact_span_of_the_passage():
    for text in (PORTAL, POLICY):
        for start, end in answer_units(text):
            assert 0 <= start < end <= len(text)
            assert text[start:end] == text[start:end].strip()
        assert answer_units(text) == sorted(answer_units(text))


@pytest.mark.parametrize(
    "unit, quotable",
    [
        ("Data retention (in days)\n30 days", True),
        ("Number of LPR and other cameras\n13", True),
        ("(a) Only trained officers may operate the ALPR system;", True),
        ("Retention period: 60 days", True),
        ("Data retention (in days)", False),  # a label alone says nothing
        ("(c) See below", False),  # an item too short to say anything
        ("AOSNUMBER: AOS1. City: Tiburon. State: CA. Agency: Tiburon PD. Technology: Drones.", False),
        # blind bl-046 / bl-047: a dataset's lower-case field holding a sentence (DeFlock's "info")
        ("info: Following a pause by City Council, Eugene PD eventually terminated their contract.", True),
        ("and the data is: kept for a while by the city of Eugene.", False),  # a fragment still is not
    ],
)
def test_which_units_are_worth_quoting(unit: str, quotable: bool):
    assert _is_answerable(unit) is quotable


def test_the_answerer_quotes_a_portal_value_and_cites_the_exact_span(make_store, tmp_path: Path):
    store = make_store()
    page = tmp_path / "buena-vista-portal.txt"
    page.write_text(PORTAL, encoding="utf-8")
    (tmp_path / "buena-vista-portal.txt.meta.yaml").write_text(
        'title: "Buena Vista PD transparency portal"\njurisdiction: "Buena Vista, CA"\ndoc_type: policy\n',
        encoding="utf-8",
    )
    assert ingest_one(store, page).status == "added"

    answer = AnswerChain(Settings(data_dir=store.settings.data_dir), store).invoke(
        "How long does Buena Vista keep license plate data?"
    )

    assert not answer.refused, answer.text
    assert "Data retention (in days): 30 days [1]" in answer.text
    chunk = store.chunk_text(answer.citations[0].chunk_id)
    assert answer.citations[0].quote in chunk
    assert "Data retention (in days)\n30 days" in answer.citations[0].quote
