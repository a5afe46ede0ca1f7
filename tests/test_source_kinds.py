"""What kind of source a document is, from what staff gave (doc_type, publisher) or, failing that,
from its title and file name: the cases are the real documents of ../shared that made each cue."""

from __future__ import annotations

import pytest

from bot.source_kinds import source_kind, source_label


@pytest.mark.parametrize(
    "meta, kind",
    [
        ({"doc_type": "policy", "publisher": "ACLU"}, "official"),  # staff's doc_type wins
        ({"doc_type": "dataset"}, "dataset"),
        ({"doc_type": "explainer", "publisher": "Plainsight"}, "explainer"),
        ({"source_kind": "vendor", "doc_type": "news"}, "vendor"),  # staff's own choice wins over all
        ({"doc_type": "other", "publisher": "ACLU of Connecticut"}, "advocacy"),
        ({"doc_id": "woodbury-mn-flock-alpr-audit-2023"}, "audit"),
        ({"doc_id": "news12-ct-police-push-back-aclu-ice-report-2019-excerpt"}, "news"),
        ({"doc_id": "historyjunkie-okaloosa-alpr-retention-findings-2026"}, "analysis"),
        ({"doc_id": "okaloosa-so-flock-faq-2026"}, "official"),  # a sheriff's FAQ about Flock, not Flock
        ({"doc_id": "flock-safety-ceo-ensuring-local-compliance-2025-excerpt"}, "vendor"),
        ({"doc_id": "eff-flock-logs-romani-searches-2025-11-03"}, "advocacy"),
        ({"doc_id": "wayzata-pd-alpr-policy-128"}, "official"),
        ({"doc_id": "notes"}, "other"),
    ],
)
def test_the_kind_of_source_comes_from_what_staff_gave_then_from_its_names(meta: dict, kind: str):
    assert source_kind(meta) == kind


def test_a_side_is_labelled_by_its_publisher_else_its_title():
    assert (
        source_label({"publisher": "Norwalk Police Department", "title": "Statement"})
        == "Norwalk Police Department"
    )
    assert source_label({"title": "Statement"}) == "Statement"
