"""The document view's logic without Streamlit (`bot.interfaces.sources`) and the answer's linked
citation marks (`bot.core.safe_text.linked_markdown`): a link carries its doc, chunk and quote
exactly, document text is only ever escaped text around a fixed <mark>, and neighbouring passages
are shown without the characters they share."""

from __future__ import annotations

import re
from html import escape
from urllib.parse import parse_qs, urlsplit

from bot.answer import Citation
from bot.core.safe_text import linked_markdown, plain_markdown
from bot.core.store import DocRecord
from bot.core.vocabulary import SOURCE_KINDS as KINDS
from bot.interfaces.sources import (
    KIND_LABELS,
    MIN_OVERLAP,
    PASSAGE_ID,
    QUOTE_ID,
    citation_links,
    document_facts,
    indexed_when,
    kind_label,
    marked_html,
    overlap,
    passage_html,
    passage_place,
    view_link,
    view_query,
)
from bot.passages import Passage, PassageView

HOSTILE = 'Footage is kept <script>alert(1)</script> for "30 days" & [more](javascript:alert(2)).'
TAG = re.compile(r"<(/?)(\w+)")


def record(**fields) -> DocRecord:
    base = dict(doc_id="town-policy", title="Town policy", content_hash="h", chunks=3, indexed_at="",
                source="", doc_type="policy", jurisdiction="Town, CT", publisher="Town police",
                published="2024-05-01", source_url="")  # fmt: skip
    return DocRecord(**{**base, **fields})


def view_of(text: str, start: int | None, end: int | None, before: str = "", after: str = "", n: int = 1):
    passage = Passage(f"town-policy#{n}", n, text, 2, "Retention")
    around = (Passage(f"town-policy#{n - 1}", n - 1, before, 2, "") if before else None,
              Passage(f"town-policy#{n + 1}", n + 1, after, 3, "") if after else None)  # fmt: skip
    return PassageView(record(), "official", passage, *around, text[start:end] if start is not None else "",
                       start, end, "", False, (), "")  # fmt: skip


def test_a_view_link_carries_doc_chunk_and_quote_exactly():
    quote = 'Data is kept for 30 days & then "deleted" (see #4)\nby the city?'
    link = view_link("town-policy", "town-policy#12", quote)
    path, query = link.split("?", 1)
    assert path == "source" and re.fullmatch(r"[A-Za-z0-9_.~%&=-]+", query), link  # nothing unencoded
    assert parse_qs(urlsplit(link).query) == {
        "doc": ["town-policy"],
        "chunk": ["town-policy#12"],
        "q": [quote],
    }
    assert view_link("town-policy", "town-policy#0") == "source?doc=town-policy&chunk=town-policy%230"
    assert view_query("d", "d#1") == {"doc": "d", "chunk": "d#1"}  # no empty q to mark
    cited = Citation(2, "d", "d#3", "T", "", "", "", "", "", None, "", "kept 30 days", 0.5, "official")
    assert citation_links([cited]) == {2: "source?doc=d&chunk=d%233&q=kept%2030%20days"}


def test_answer_marks_link_to_their_views_and_nothing_else_links():
    links = {1: view_link("d", "d#0", "a quote"), 2: "javascript:alert(1)", 3: "//evil.example/x", 4: "a)b"}
    text = "Kept 30 days [1]. <b>Also</b> [2] [3] [4] [5] and [1] again.\n\n  Second (paragraph) [1]"
    out = linked_markdown(text, links)
    target = links[1]
    assert out.count(f"[\\[1\\]]({target})") == 3
    for n in (2, 3, 4, 5):  # not one of the app's own relative addresses: the mark stays text
        assert f"\\[{n}\\]" in out and f"[{n}]" not in out.replace(f"\\[{n}\\]", "")
    rest = out.replace(f"[\\[1\\]]({target})", "")
    assert not re.search(r"(?<!\\)[\[\]()<>]", rest), rest  # all other text escaped
    assert out.split("\n\n")[1].startswith("Second \\(paragraph\\)")
    assert plain_markdown(text) == linked_markdown(text, {}) and "\\[1\\]" in plain_markdown(text)


def test_only_the_mark_is_markup_and_the_quote_must_be_exact():
    start = HOSTILE.index("<script>")
    end = HOSTILE.index("&") + 1
    html = marked_html(HOSTILE, start, end)
    assert TAG.findall(html) == [("", "mark"), ("/", "mark")]  # the document's tags are text
    assert html.startswith(escape(HOSTILE[:start]) + f'<mark id="{QUOTE_ID}" ')
    assert html.endswith(f">{escape(HOSTILE[start:end])}</mark>{escape(HOSTILE[end:])}")
    for start, end in ((None, None), (5, 5), (-1, 4), (3, len(HOSTILE) + 1)):  # no usable offsets: no mark
        assert marked_html(HOSTILE, start, end) == escape(HOSTILE)


def test_neighbours_are_dimmed_and_their_shared_characters_shown_once():
    shared = "which the department audits every quarter."
    before = "Plate data is kept for 30 days, " + shared
    text = shared + " Requests from ICE are refused."
    after = "Requests from ICE are refused. Records requests go to the clerk <i>now</i>."
    assert overlap(before, text) == len(shared)
    assert overlap("short tail", "tail and more") == 0  # under MIN_OVERLAP: a coincidence
    assert overlap("x" * MIN_OVERLAP, "x" * MIN_OVERLAP) == MIN_OVERLAP
    start = text.index("Requests")
    html = passage_html(view_of(text, start, len(text), before, after))
    dimmed = re.findall(r'<div style="[^"]*color:#57606a[^"]*">(.*?)</div>', html)
    assert dimmed == [
        "Plate data is kept for 30 days,",
        "Records requests go to the clerk &lt;i&gt;now&lt;/i&gt;.",
    ]
    assert f'<div id="{PASSAGE_ID}"' in html and html.count(shared) == 1
    assert TAG.findall(html).count(("", "mark")) == 1 and "<i>" not in html
    assert passage_html(view_of(text, None, None)).count("<div") == 1  # no neighbours, no mark


def test_what_the_view_says_about_a_source():
    view = view_of("Kept 30 days.", 0, 4)
    assert document_facts(view) == [
        "Official record",
        "Town police",
        "published 2024-05-01",
        "Town, CT",
        "policy",
    ]
    assert passage_place(view) == "Passage 2 of 3 · page 2 · section “Retention”"
    assert kind_label("advocacy") == "Advocacy group" and kind_label("made-up") == "Other source"
    assert set(KIND_LABELS) == set(KINDS)
    assert indexed_when("2026-12-02T10:15:42+00:00") == "2026-12-02 10:15 UTC"
