"""The HTTP API end to end: uvicorn on 127.0.0.1, a real HTTP client, the real chain and store.

Public endpoints are served over the session's indexed corpus (read only); staff uploads go to a
store of this module's own, so nothing here changes what other test modules read.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import subprocess
from dataclasses import fields
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import numpy as np
import pytest
from conftest import CORPUS, PLAINSIGHT, cli_env, pdf_of
from live_server import plainsight_serve, serve_app, static_site
from PIL import Image

from bot.chain import AnswerChain, Ask
from bot.core.settings import Settings
from bot.core.store import Store
from bot.core.vocabulary import SOURCE_KINDS as KINDS
from bot.interfaces.api import RateLimiter, create_app
from bot.passages import MAX_SIDE, PassageView

KEY = "test-staff-key-5c2f"
ALLOWED = "http://allowed.example"
REFUSED = "http://evil.example"
STAFF = {"Authorization": f"Bearer {KEY}"}
QUESTION = "Does Norwalk share plate data with ICE?"
DOC = "aclu-ct-ice-report-2019"

POLICY_MD = b"""---
title: "Fairhaven Police ALPR policy"
publisher: Fairhaven Police Department
published: 2025-02-03
jurisdiction: "Fairhaven, MA"
doc_type: policy
source_url: https://fairhaven.example.gov/alpr-policy.pdf
---
# Retention

The Fairhaven Police Department keeps license plate reader data for fourteen days and then
deletes it automatically. Data is not shared with federal immigration authorities without a
judicial warrant.
"""


def sse_events(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.split("\n\n"):
        if not block.strip():
            continue
        name = re.search(r"^event: (.*)$", block, re.M).group(1)
        data = re.search(r"^data: (.*)$", block, re.M).group(1)
        events.append((name, json.loads(data)))
    return events


@pytest.fixture(scope="module")
def public_chain(corpus_store):
    return AnswerChain(corpus_store.settings, corpus_store)


@pytest.fixture(scope="module")
def api(public_chain):
    settings = Settings(
        data_dir=public_chain.store.settings.data_dir,
        api_key=KEY,
        cors_origins=f"{ALLOWED}, http://other.example/",
        rate_limit_per_minute=0,
        max_request_kb=16,
    )
    with serve_app(create_app(settings, public_chain)) as url:
        with httpx.Client(base_url=url, timeout=120) as client:
            yield client


@pytest.fixture(scope="module")
def staff_store(tmp_path_factory, embeddings):
    return Store(Settings(data_dir=tmp_path_factory.mktemp("staff") / "data"), embeddings=embeddings)


@pytest.fixture(scope="module")
def staff_api(staff_store):
    settings = Settings(
        data_dir=staff_store.settings.data_dir, api_key=KEY, max_file_mb=0.05, fetch_allow_hosts="127.0.0.1"
    )
    chain = AnswerChain(staff_store.settings, staff_store)
    with serve_app(create_app(settings, chain)) as url:
        with httpx.Client(base_url=url, timeout=120) as client:
            yield client


# --- public -----------------------------------------------------------------------------------


def test_ask_returns_the_same_answer_object_as_the_chain(api, public_chain):
    got = api.post("/v1/ask", json={"question": QUESTION})

    assert got.status_code == 200, got.text
    body = got.json()
    views = [c.pop("view_url") for c in body["citations"]]
    assert body == public_chain.invoke(QUESTION).to_dict()
    assert not body["refused"] and "[1]" in body["text"]
    assert body["citations"][0]["n"] == 1 and body["citations"][0]["quote"]
    assert "trace" not in body
    for citation, view in zip(body["citations"], views):  # each opens its passage in the app
        query = parse_qs(urlsplit(view).query)
        assert view.startswith("http://localhost:8501/source?")
        assert query == {
            "doc": [citation["doc_id"]],
            "chunk": [citation["chunk_id"]],
            "q": [citation["quote"]],
        }
        assert citation["kind"] in KINDS


def test_ask_takes_history_filters_and_explain(api, public_chain):
    history = [
        {"role": "user", "content": "How long does Minnesota let police keep plate data?"},
        {"role": "assistant", "content": "Minnesota limits retention to 60 days. [1]"},
    ]
    got = api.post(
        "/v1/ask",
        json={"question": "And who can see it?", "history": history, "explain": True},
    ).json()
    direct = public_chain.invoke(Ask.of({"question": "And who can see it?", "history": history}))
    assert got["text"] == direct.text
    assert got["trace"], "explain asks for the retrieval trace"

    town = api.post("/v1/ask", json={"question": QUESTION, "town": "Norwalk"}).json()
    assert town["citations"]
    assert {c["jurisdiction"] for c in town["citations"]} <= {"Norwalk, CT", "Connecticut", "United States"}

    only = api.post("/v1/ask", json={"question": QUESTION, "filters": {"jurisdictions": ["Connecticut"]}})
    assert {c["jurisdiction"] for c in only.json()["citations"]} == {"Connecticut"}


def test_question_outside_the_documents_is_refused(api):
    body = api.post("/v1/ask", json={"question": "What is the weather in Hartford tomorrow?"}).json()

    assert body["refused"] and body["citations"] == []


def test_stream_sends_tokens_then_the_answer_with_citations_then_done(api):
    with api.stream("POST", "/v1/ask/stream", json={"question": QUESTION}) as got:
        assert got.status_code == 200
        assert got.headers["content-type"].startswith("text/event-stream")
        events = sse_events(got.read().decode())

    names = [name for name, _ in events]
    assert names[-2:] == ["answer", "done"] and set(names[:-2]) == {"token"}, names
    answer = events[-2][1]
    assert "".join(data["text"] for name, data in events if name == "token") == answer["text"]
    assert answer == api.post("/v1/ask", json={"question": QUESTION}).json()
    assert answer["citations"]


def test_search_returns_passages_in_the_cli_schema(api):
    got = api.get("/v1/search", params={"q": "drones", "k": 3})

    assert got.status_code == 200
    body = got.json()
    assert body["query"] == "drones" and [r["rank"] for r in body["results"]] == [1, 2, 3]
    assert set(body["results"][0]) == {
        "rank", "score", "similarity", "chunk_id", "doc_id", "title", "source_url", "page", "section", "text",
    }  # fmt: skip
    assert body["results"][0]["doc_id"] == "drones"

    ct = api.get("/v1/search", params=[("q", "plate data"), ("jurisdiction", "Connecticut"), ("k", 5)])
    assert ct.json()["results"] and {r["doc_id"] for r in ct.json()["results"]} <= {
        "aclu-ct-ice-report-2019", "connecticut-alpr-law-and-moratorium", "ct-police-chiefs-respond",
    }  # fmt: skip


def passage_url(doc_id: str, chunk_id: str) -> str:
    return f"/v1/documents/{quote(doc_id, safe='')}/passages/{quote(chunk_id, safe='')}"


def test_a_passage_of_an_explainer_with_its_neighbours_quote_and_sources(api, public_chain):
    text = public_chain.store.chunk_text(f"{DOC}#0")
    cited = text[20:90]

    got = api.get(passage_url(DOC, f"{DOC}#0"), params={"quote": cited})

    assert got.status_code == 200, got.text
    body = got.json()
    assert list(body) == [f.name for f in fields(PassageView)] + ["page_image_url"]
    assert body["passage"]["text"][body["quote_start"] : body["quote_end"]] == cited == body["quote"]
    assert body["before"] is None and body["after"]["chunk_id"] == f"{DOC}#1"
    assert body["kind"] == "explainer" and body["page_image"] is False and body["page_image_url"] is None
    assert len(body["sources"]) == 7 and body["sources"][0]["publisher"] == "ACLU of Connecticut"
    sha = hashlib.sha256((CORPUS / f"{DOC}.md").read_bytes()).hexdigest()
    assert body["document"]["file_sha256"] == sha and body["document"]["indexed_at"]
    missed = api.get(passage_url(DOC, f"{DOC}#0"), params={"quote": cited.upper()}).json()
    assert missed["quote_start"] is None and missed["quote_end"] is None


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (passage_url("no-such-doc", "no-such-doc#0"), 404),
        (passage_url(DOC, "drones#0"), 404),  # another document's passage
        (passage_url(DOC, f"{DOC}#9999"), 404),
        (passage_url(DOC, DOC), 404),
        ("/v1/documents/%2e%2e/passages/%2e%2e%230", 404),  # ".." is a name like any other
        (f"/v1/documents/{DOC}/pages/1.png", 404),  # Markdown: no page to draw
        ("/v1/documents/no-such-doc/pages/1.png", 404),
        # a slash smuggled into a parameter leaves the public routes: the staff key is asked for
        ("/v1/documents/..%2F..%2Fetc/passages/passwd", 401),
        (f"/v1/documents/{DOC}/passages/..%2F..%2F..%2Fetc%2Fpasswd", 401),
        (f"/v1/documents/{DOC}/passages/{DOC}%230%2F..", 401),
        (f"/v1/documents/{DOC}/pages/..%2F1.png", 401),
        (passage_url(DOC, f"{DOC}#0") + "?quote=" + "x" * 2001, 422),
        (passage_url("d" * 201, "d#0"), 422),
        (f"/v1/documents/{DOC}/pages/0.png", 422),
        (f"/v1/documents/{DOC}/pages/one.png", 422),
    ],
)
def test_passages_and_pages_that_are_not_there_or_not_allowed(api, path, status):
    got = api.get(path)
    assert got.status_code == status, got.text
    assert "ACLU" not in got.text and "root:" not in got.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/documents"),
        ("POST", "/v1/documents"),
        ("GET", f"/v1/documents/{DOC}"),
        ("DELETE", f"/v1/documents/{DOC}"),
        ("GET", f"/v1/documents/{DOC}/original"),
        ("GET", f"/v1/documents/{DOC}/passages"),
        ("GET", f"/v1/documents/{DOC}/passages/"),
        ("GET", passage_url(DOC, f"{DOC}#0") + "/"),
        ("GET", passage_url(DOC, f"{DOC}#0") + "/original"),
        ("DELETE", passage_url(DOC, f"{DOC}#0") + "/x"),
        ("GET", f"/v1/documents/{DOC}/pages/1"),
        ("GET", f"/v1/documents/{DOC}/pages/1.png/x"),
        ("GET", f"/v1/documents/{DOC}/pages/1.pngx"),
        ("GET", "/v1/documentsx/a/passages/b"),
    ],
)
def test_everything_else_under_documents_stays_staff_only(api, method, path):
    assert api.request(method, path).status_code == 401


def test_a_pdf_passage_its_marked_page_and_its_original(staff_api):
    data = pdf_of(
        "Harborview keeps plate scans for nine days. " * 12, "Harborview shares no data with ICE. " * 12
    )
    meta = {
        "doc_id": "harborview-pdf",
        "doc_type": "policy",
        "source_url": "https://harborview.example/p.pdf",
    }
    assert upload(staff_api, "policy.pdf", data, **meta).status_code == 201
    record = staff_api.get("/v1/documents/harborview-pdf", headers=STAFF).json()
    assert record["file_sha256"] == hashlib.sha256(data).hexdigest()
    second = next(
        n for n in range(record["chunks"])
        if staff_api.get(passage_url("harborview-pdf", f"harborview-pdf#{n}")).json()["passage"]["page"] == 2
    )  # fmt: skip
    cited = "Harborview shares no data with ICE."

    body = staff_api.get(
        passage_url("harborview-pdf", f"harborview-pdf#{second}"), params={"quote": cited}
    ).json()

    assert body["page_image"] and body["kind"] == "official" and body["quote_start"] == 0
    assert body["original_url"] == "https://harborview.example/p.pdf#page=2"
    assert body["page_image_url"] == "/v1/documents/harborview-pdf/pages/2.png?" + urlencode({"quote": cited})
    page = staff_api.get(body["page_image_url"])  # no key: public
    assert page.status_code == 200 and page.headers["content-type"] == "image/png"
    assert "max-age" in page.headers["cache-control"]
    image = Image.open(io.BytesIO(page.content)).convert("RGB")
    rgb = np.asarray(image).astype(int)
    assert max(image.size) <= MAX_SIDE and ((rgb[..., 0] - rgb[..., 2]) >= 50).any(), "the quote is marked"
    assert staff_api.get("/v1/documents/harborview-pdf/pages/3.png").status_code == 404
    unmarked = staff_api.get(
        passage_url("harborview-pdf", f"harborview-pdf#{second}"), params={"quote": "ICE!"}
    )
    assert unmarked.json()["page_image_url"] == "/v1/documents/harborview-pdf/pages/2.png"

    assert staff_api.get("/v1/documents/harborview-pdf/original").status_code == 401
    original = staff_api.get("/v1/documents/harborview-pdf/original", headers=STAFF)
    assert original.status_code == 200 and original.content == data
    assert original.headers["content-type"] == "application/pdf"
    assert original.headers["content-disposition"].startswith("attachment;")
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert original.headers["repr-digest"] == f"sha-256=:{digest}:"
    assert staff_api.get("/v1/documents/nobody/original", headers=STAFF).status_code == 404

    staff_api.delete("/v1/documents/harborview-pdf", headers=STAFF)
    assert staff_api.get("/v1/documents/harborview-pdf/original", headers=STAFF).status_code == 404
    assert staff_api.get(passage_url("harborview-pdf", "harborview-pdf#0")).status_code == 404
    assert staff_api.get("/v1/documents/harborview-pdf/pages/1.png").status_code == 404


@pytest.mark.parametrize(
    "body",
    [{}, {"question": ""}, {"question": "x" * 1001}, {"question": "q", "history": [{"role": "system"}]}],
)
def test_malformed_questions_are_rejected(api, body):
    assert api.post("/v1/ask", json=body).status_code == 422


def test_oversize_question_body_is_413(api):
    history = [{"role": "user", "content": "word " * 700}] * 6  # ~21 KB over the module's 16 KB cap

    assert api.post("/v1/ask", json={"question": "q", "history": history}).status_code == 413


def test_healthz_docs_and_widget(api):
    health = api.get("/healthz").json()
    assert health["status"] == "ok" and health["documents"] == 16 and health["store"] == "embedded"

    paths = api.get("/openapi.json").json()["paths"]
    for path in ("/v1/ask", "/v1/ask/stream", "/v1/search", "/healthz", "/v1/documents",
                 "/v1/documents/{doc_id}", "/v1/embeddings", "/v1/documents/{doc_id}/passages/{chunk_id}",
                 "/v1/documents/{doc_id}/pages/{n}.png", "/v1/documents/{doc_id}/original"):  # fmt: skip
        assert path in paths, path
    assert "image/png" in paths["/v1/documents/{doc_id}/pages/{n}.png"]["get"]["responses"]["200"]["content"]
    assert api.get("/docs").status_code == 200

    widget = api.get("/widget.js")
    assert widget.status_code == 200 and widget.headers["content-type"].startswith("text/javascript")
    assert "textContent" in widget.text and "innerHTML" not in widget.text


def test_cors_allows_listed_origins_only(api):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    allowed = api.options("/v1/ask", headers={"Origin": ALLOWED, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert api.options("/v1/ask", headers={"Origin": "http://other.example", **preflight}).status_code == 200

    refused = api.options("/v1/ask", headers={"Origin": REFUSED, **preflight})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers

    simple = api.get("/v1/search", params={"q": "drones"}, headers={"Origin": ALLOWED})
    assert simple.headers["access-control-allow-origin"] == ALLOWED
    other = api.get("/v1/search", params={"q": "drones"}, headers={"Origin": REFUSED})
    assert "access-control-allow-origin" not in other.headers


def test_rate_limit_is_per_client_and_spares_health_checks(public_chain):
    settings = Settings(data_dir=public_chain.store.settings.data_dir, rate_limit_per_minute=3)
    with serve_app(create_app(settings, public_chain)) as url:
        with httpx.Client(base_url=url, timeout=60) as first:
            codes = [first.get("/v1/search", params={"q": "drones"}).status_code for _ in range(4)]
            assert codes == [200, 200, 200, 429]
            limited = first.post("/v1/ask", json={"question": QUESTION})
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
            assert first.get(passage_url(DOC, f"{DOC}#0")).status_code == 429  # as costly as a search
            assert first.get(f"/v1/documents/{DOC}/pages/1.png").status_code == 429
            assert first.get("/healthz").status_code == 200
        # another client address (all of 127.0.0.0/8 is loopback) has its own allowance
        other = httpx.Client(
            base_url=url, timeout=60, transport=httpx.HTTPTransport(local_address="127.0.0.2")
        )
        with other:
            assert other.get("/v1/search", params={"q": "drones"}).status_code == 200


def test_token_bucket_refills_over_time():
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.take("a") == 0 for _ in range(60))
    assert limiter.take("a") == pytest.approx(1.0)
    now[0] += 2.0
    assert limiter.take("a") == 0 and limiter.take("a") == 0 and limiter.take("a") > 0
    assert RateLimiter(0).take("a") == 0


def test_questions_are_not_logged(api, caplog):
    secret = "Zebulon Quartermaine plate question"
    with caplog.at_level(logging.DEBUG):
        api.post("/v1/ask", json={"question": secret})
        api.get("/v1/search", params={"q": secret})
        with api.stream("POST", "/v1/ask/stream", json={"question": secret}) as got:
            got.read()
    client_side = ("httpx", "httpcore")  # this test's own client logs its URLs; the server must not
    assert any(r.name.startswith(client_side) for r in caplog.records), "records are captured"
    assert not [
        r for r in caplog.records if not r.name.startswith(client_side) and "Zebulon" in r.getMessage()
    ]


def test_plainsight_serve_answers_and_logs_no_question(corpus_store, tmp_path):
    env = cli_env(corpus_store.settings.data_dir)
    env["PLAINSIGHT_RATE_LIMIT_PER_MINUTE"] = "0"
    log = tmp_path / "serve.log"
    with plainsight_serve(env, log) as base:
        secret = "Quimby Farnsworth drones"
        assert httpx.get(base + "/v1/search", params={"q": secret}).status_code == 200
        answer = httpx.post(base + "/v1/ask", json={"question": QUESTION}, timeout=60).json()
        assert answer["citations"]
        staff = httpx.get(base + "/v1/documents")
        assert staff.status_code == 403 and "PLAINSIGHT_API_KEY" in staff.json()["detail"]
    text = log.read_text()
    assert "Quimby" not in text and "Norwalk" not in text and "GET /" not in text, text


def test_serve_refuses_several_workers_on_the_embedded_store(tmp_path):
    done = subprocess.run(
        [str(PLAINSIGHT), "serve", "--workers", "2"], capture_output=True, text=True,
        env=cli_env(tmp_path / "data"), timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "Chroma server" in done.stderr


# --- staff ------------------------------------------------------------------------------------


def upload(client: httpx.Client, name: str, data: bytes, headers=STAFF, **fields) -> httpx.Response:
    return client.post("/v1/documents", headers=headers, files={"file": (name, data)}, data=fields)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
def test_staff_endpoints_need_the_key(staff_api, headers):
    assert staff_api.get("/v1/documents", headers=headers).status_code == 401
    assert staff_api.get("/v1/documents/x", headers=headers).status_code == 401
    assert staff_api.delete("/v1/documents/x", headers=headers).status_code == 401
    got = upload(staff_api, "policy.md", POLICY_MD, headers=headers)
    assert got.status_code == 401 and got.headers["www-authenticate"] == "Bearer"
    assert staff_api.post("/v1/embeddings", headers=headers, json={"input": "x"}).status_code == 401


def test_staff_endpoints_are_disabled_without_a_configured_key(public_chain):
    settings = Settings(data_dir=public_chain.store.settings.data_dir, api_key="")
    with serve_app(create_app(settings, public_chain)) as url:
        got = httpx.get(url + "/v1/documents")
        assert got.status_code == 403 and "PLAINSIGHT_API_KEY" in got.json()["detail"]
        assert (
            httpx.post(url + "/v1/documents", headers=STAFF, files={"file": ("a.md", b"x")}).status_code
            == 403
        )


def test_upload_list_show_ask_delete(staff_api):
    got = upload(
        staff_api, "fairhaven-policy.md", POLICY_MD, doc_id="fairhaven-alpr", topics="alpr, retention"
    )
    assert got.status_code == 201, got.text
    assert got.json() == {
        "path": "fairhaven-policy.md", "status": "added", "doc_id": "fairhaven-alpr", "chunks": 1,
        "reason": "",
    }  # fmt: skip

    listed = staff_api.get("/v1/documents", headers=STAFF).json()["documents"]
    assert [d["doc_id"] for d in listed] == ["fairhaven-alpr"]
    shown = staff_api.get("/v1/documents/fairhaven-alpr", headers=STAFF).json()
    assert shown["title"] == "Fairhaven Police ALPR policy" and shown["jurisdiction"] == "Fairhaven, MA"
    assert shown["source_url"] == "https://fairhaven.example.gov/alpr-policy.pdf"

    answer = staff_api.post("/v1/ask", json={"question": "How long does Fairhaven keep plate data?"}).json()
    assert not answer["refused"] and "fourteen days" in answer["text"]
    assert answer["citations"][0]["doc_id"] == "fairhaven-alpr"

    again = upload(
        staff_api, "fairhaven-policy.md", POLICY_MD, doc_id="fairhaven-alpr", topics="alpr, retention"
    )
    assert again.status_code == 200 and again.json()["status"] == "unchanged"

    assert staff_api.delete("/v1/documents/fairhaven-alpr", headers=STAFF).json() == {
        "deleted": "fairhaven-alpr"
    }
    assert staff_api.get("/v1/documents/fairhaven-alpr", headers=STAFF).status_code == 404
    assert staff_api.delete("/v1/documents/fairhaven-alpr", headers=STAFF).status_code == 404
    gone = staff_api.post("/v1/ask", json={"question": "How long does Fairhaven keep plate data?"}).json()
    assert gone["refused"]


def test_upload_metadata_as_json_and_refusals_with_reasons(staff_api):
    text = b"Harborview police bought two drones in 2024 and fly them only with a supervisor's approval."
    meta = json.dumps(
        {"doc_id": "harborview-drones", "title": "Harborview drones", "jurisdiction": "Harborview"}
    )
    got = upload(staff_api, "drones.txt", text, metadata=meta)
    assert got.status_code == 201 and got.json()["doc_id"] == "harborview-drones"
    assert (
        staff_api.get("/v1/documents/harborview-drones", headers=STAFF).json()["title"] == "Harborview drones"
    )

    bad_type = upload(staff_api, "slides.pptx", b"PK\x03\x04 not really")
    assert bad_type.status_code == 422 and "unsupported file type" in bad_type.json()["reason"]
    taken = upload(
        staff_api, "other.txt", b"Some other text about cameras in town halls.", doc_id="harborview-drones"
    )
    assert taken.status_code == 422 and "already used" in taken.json()["reason"]
    assert upload(staff_api, "x.md", POLICY_MD, metadata="[1, 2]").status_code == 422
    assert upload(staff_api, "x.md", POLICY_MD, source_kind="blog").status_code == 422
    assert staff_api.post("/v1/documents", headers=STAFF, data={"title": "neither"}).status_code == 422
    staff_api.delete("/v1/documents/harborview-drones", headers=STAFF)


def test_upload_from_a_url(staff_api, tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "retention.html").write_bytes(
        b"<html><head><title>Eastbrook retention</title></head><body><article><h1>Eastbrook plate data</h1>"
        b"<p>Eastbrook police keep plate reader scans for thirty days before they are purged from the "
        b"system, according to the town's 2023 policy.</p></article></body></html>"
    )
    with static_site(tmp_path / "site") as site:
        got = staff_api.post(
            "/v1/documents", headers=STAFF, data={"url": f"{site}/retention.html", "doc_id": "eastbrook"}
        )
        assert got.status_code == 201, got.text
        record = staff_api.get("/v1/documents/eastbrook", headers=STAFF).json()
        assert record["source_url"] == f"{site}/retention.html"
        missing = staff_api.post("/v1/documents", headers=STAFF, data={"url": f"{site}/nope"})
        assert missing.status_code == 422 and "404" in missing.json()["detail"]
    assert (
        staff_api.post("/v1/documents", headers=STAFF, data={"url": "file:///etc/passwd"}).status_code == 422
    )
    staff_api.delete("/v1/documents/eastbrook", headers=STAFF)


def test_oversize_uploads_are_413(staff_api):
    big = b"Plate readers. " * 8000  # 120 KB, over the 0.05 MB limit of this module's staff server
    declared = upload(staff_api, "big.txt", big)
    assert declared.status_code == 413, declared.text

    def chunks():  # no Content-Length: the cap applies while the body streams in
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'
        for _ in range(30):
            yield b"x" * 4096
        yield b"\r\n--b--\r\n"

    streamed = staff_api.post(
        "/v1/documents",
        headers={**STAFF, "Content-Type": "multipart/form-data; boundary=b"},
        content=chunks(),
    )
    assert streamed.status_code == 413, streamed.text
    small_enough = upload(staff_api, "fine.txt", b"Cameras at the Westfield library record for a week. " * 10)
    assert small_enough.status_code == 201
    staff_api.delete(f"/v1/documents/{small_enough.json()['doc_id']}", headers=STAFF)
    assert staff_api.get("/v1/documents", headers=STAFF).json()["documents"] == []


def test_response_schemas_follow_the_dataclasses_they_serialise():
    """A field added to a record is served and documented: the hand-written copy of `DocRecord`
    once dropped `ocr` and `ocr_confidence` from `GET /v1/documents`."""
    from bot.answer import Citation
    from bot.core.store import DocRecord
    from bot.interfaces.api import schemas
    from bot.passages import ExplainerSource, Passage
    from ingest.pipeline import FileResult

    pairs = ((schemas.CitationOut, Citation), (schemas.DocumentOut, DocRecord),
             (schemas.FileResultOut, FileResult), (schemas.PassageOut, Passage),
             (schemas.ExplainerSourceOut, ExplainerSource))  # fmt: skip
    for model, record in pairs:
        assert list(model.model_fields) == [f.name for f in fields(record)]
    assert list(schemas.PassageViewOut.model_fields) == [f.name for f in fields(PassageView)] + [
        "page_image_url"
    ]
    documented = create_app(Settings()).openapi()["components"]["schemas"]
    assert {"ocr", "ocr_confidence", "file_sha256"} <= set(documented["DocumentOut"]["properties"])
    assert {"view_url", "kind"} <= set(documented["CitedOut"]["properties"])
    assert "page_image_url" in documented["PassageViewOut"]["properties"]
