"""Chroma server mode: a real `chroma run` server holds the vectors; the API ingests into it while
another process answers questions from it. Nothing is lost, nothing is duplicated, and the other
process sees every new document as soon as the registry vouches for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from conftest import cli_env
from live_server import chroma_server, serve_app

from bot.chain import AnswerChain
from bot.core.settings import Settings
from bot.core.store import Store
from bot.interfaces.api import create_app
from ingest.pipeline import ingest_document

KEY = "chroma-test-key"
STAFF = {"Authorization": f"Bearer {KEY}"}
TOWNS = ["Quillford", "Marrowdale", "Tessington", "Brackenridge", "Olverton", "Pemberwick", "Sandhollow"]
DAYS = {town: 20 + 7 * i for i, town in enumerate(TOWNS)}

ANSWERER = """
import json, sys, time
from pathlib import Path
from bot.chain import AnswerChain
from bot.core.settings import Settings

questions, stop = json.loads(sys.argv[1]), Path(sys.argv[2])
chain = AnswerChain(Settings())
assert chain.store.settings.uses_server
round_no = 0
while not stop.exists():
    for q in questions:
        try:
            a = chain.invoke(q)
            row = {"round": round_no, "q": q, "refused": a.refused, "text": a.text,
                   "docs": [c.doc_id for c in a.citations]}
        except Exception as exc:
            row = {"round": round_no, "q": q, "error": repr(exc)}
        print(json.dumps(row), flush=True)
    round_no += 1
"""


def policy(town: str, days: int) -> bytes:
    return (
        f'---\ndoc_id: {town.lower()}-alpr\ntitle: "{town} license plate reader policy"\n'
        f'jurisdiction: "{town}, CT"\ndoc_type: policy\npublisher: {town} Police Department\n---\n'
        f"# Retention\n\nThe {town} Police Department keeps license plate reader data for {days} days "
        f"and then deletes it. {town} shares plate data with other agencies only under a written "
        f"agreement approved by the town council.\n"
    ).encode()


def question(town: str) -> str:
    return f"How long does {town} keep license plate reader data?"


class Lines:
    """Collects a subprocess's stdout lines in a thread (so reading never blocks the test)."""

    def __init__(self, stream) -> None:
        self.rows: list[dict] = []
        self.other: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            try:
                self.rows.append(json.loads(line))
            except json.JSONDecodeError:
                self.other.append(line)

    def wait_for(self, predicate, timeout: float, proc: subprocess.Popen) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.rows):
            assert proc.poll() is None, f"the answering process died: {self.other[-20:]}"
            assert time.monotonic() < deadline, "the answering process did not keep up"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def chroma(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chroma")
    with chroma_server(folder / "db") as port:
        yield port


def test_ingest_through_the_api_while_another_process_answers(chroma, embeddings, tmp_path):
    settings = Settings(
        data_dir=tmp_path / "unused", chroma_host="127.0.0.1", chroma_port=chroma, api_key=KEY,
        rate_limit_per_minute=0,
    )  # fmt: skip
    store = Store(settings, embeddings=embeddings)
    first, rest = TOWNS[0], TOWNS[1:]
    assert ingest_document(store, f"{first}.md", policy(first, DAYS[first])).status == "added"

    env = cli_env(tmp_path / "unused")
    env.update(PLAINSIGHT_CHROMA_HOST="127.0.0.1", PLAINSIGHT_CHROMA_PORT=str(chroma))
    stop = tmp_path / "stop"
    proc = subprocess.Popen(
        [sys.executable, "-c", ANSWERER, json.dumps([question(t) for t in TOWNS]), str(stop)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        lines = Lines(proc.stdout)
        lines.wait_for(lambda rows: len(rows) >= len(TOWNS), 300, proc)  # one round before ingesting
        assert [r["refused"] for r in lines.rows[: len(TOWNS)]] == [False] + [True] * len(rest)

        with serve_app(create_app(settings, AnswerChain(settings, store))) as api:
            started = len(lines.rows)

            def upload(name: str, data: bytes) -> dict:
                got = httpx.post(
                    f"{api}/v1/documents", headers=STAFF, files={"file": (name, data)}, timeout=300
                )
                assert got.status_code in (200, 201), got.text
                return got.json()

            jobs = [(f"{t}.md", policy(t, DAYS[t])) for t in rest]
            with ThreadPoolExecutor(3) as pool:
                added = list(pool.map(lambda job: upload(*job), jobs))
            assert [r["status"] for r in added] == ["added"] * len(rest)
            DAYS[rest[0]] += 100  # change one document: it must be replaced, not doubled
            again = [upload(f"{rest[0]}.md", policy(rest[0], DAYS[rest[0]])), upload(*jobs[1])]
            assert [r["status"] for r in again] == ["updated", "unchanged"]
            during = len(lines.rows) - started
            listed = httpx.get(f"{api}/v1/documents", headers=STAFF).json()["documents"]

        done_round = lines.rows[-1]["round"] + 1 if lines.rows else 0
        lines.wait_for(lambda rows: sum(r["round"] == done_round + 1 for r in rows) == len(TOWNS), 300, proc)
    finally:
        stop.touch()
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    assert not [r for r in lines.rows if "error" in r], [r for r in lines.rows if "error" in r][:3]
    assert during > 0, "the other process kept answering while documents were ingested"
    final = [r for r in lines.rows if r["round"] == done_round + 1]
    for town, row in zip(TOWNS, final):
        assert not row["refused"] and f"{DAYS[town]} days" in row["text"], row
        assert row["docs"][0] == f"{town.lower()}-alpr", row

    wanted = sorted(f"{t.lower()}-alpr" for t in TOWNS)
    assert sorted(d["doc_id"] for d in listed) == wanted
    fresh = Store(settings, embeddings=embeddings)
    records = {r.doc_id: r for r in fresh.documents()}
    assert sorted(records) == wanted
    chunks = list(fresh.iter_chunks())
    assert len(chunks) == len({c.id for c in chunks}) == sum(r.chunks for r in records.values())
    for doc_id, record in records.items():
        mine = [c for c in chunks if c.metadata["doc_id"] == doc_id]
        assert len(mine) == record.chunks
        assert {c.metadata["content_hash"] for c in mine} == {record.content_hash}
    assert len({c.text for c in chunks}) == len(chunks), "no passage is stored twice"
    assert f" {DAYS[rest[0]] - 100} days" not in " ".join(c.text for c in chunks), "the old version is gone"


def test_server_mode_is_what_every_part_uses(chroma, embeddings, tmp_path):
    settings = Settings(data_dir=tmp_path / "never-created", chroma_host="127.0.0.1", chroma_port=chroma)
    store = Store(settings, embeddings=embeddings)
    assert type(store._client).__name__ == "Client" and store.chunk_count() >= len(TOWNS)
    assert not Path(settings.data_dir).exists(), "the embedded store was not touched"


def test_health_check_reports_a_chroma_server_that_went_away(embeddings, tmp_path):
    with ExitStack() as chroma_running:
        port = chroma_running.enter_context(chroma_server(tmp_path / "db"))
        settings = Settings(data_dir=tmp_path / "unused", chroma_host="127.0.0.1", chroma_port=port)
        chain = AnswerChain(settings, Store(settings, embeddings=embeddings))
        with serve_app(create_app(settings, chain)) as api:
            health = httpx.get(f"{api}/healthz")
            assert health.status_code == 200 and health.json()["store"] == "server"
            assert health.json()["documents"] == 0
            chroma_running.close()
            gone = httpx.get(f"{api}/healthz", timeout=60)
            assert gone.status_code == 503 and gone.json()["status"] == "unavailable"
