"""Faults a deployment meets, injected with real processes: nothing acknowledged is lost, nothing
inside the network is fetched, no question reaches a log.

* A `plainsight ingest` beside a running `plainsight serve` on the embedded store: answers never
  fail while it writes, the API sees its documents, and a second writer is told who holds the store.
* API uploads racing a CLI ingest that is killed with SIGKILL at a random point (several seeds),
  then run again: the final store holds exactly every document answered 201 and every file, each
  with all of its chunks and nothing else.
* On a Chroma server (several writers), another writer's repair never deletes a document in flight.
* URL ingest through the API, the staff page and the CLI refuses loopback, private and unspecified
  addresses in every spelling and behind a redirect; a slow-drip server cannot outlast the deadline.
* Lone surrogates, invalid JSON and invalid fields are answered without a 500 and without echoing
  the question; the last test greps every log this module produced for every question it asked.
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import CORPUS, PLAINSIGHT, cli_env, snapshot, snapshot_dir
from live_server import chroma_server, plainsight_serve

from bot.core.settings import Settings
from bot.core.store import HOLDER_FILE, Store, StoreBusy
from ingest.loaders import load_bytes
from ingest.pipeline import check, delete_document, embed_chunks, ingest_document, registry_record, repair
from ingest.web import ingest_url

KEY = "faults-staff-key"
STAFF = {"Authorization": f"Bearer {KEY}"}
ALLOWED = "127.0.0.2"  # the one host the API may fetch: the tests' own site on another loopback address
LOGS: list[Path] = []  # every log file this module's processes wrote
RECORDS: list[str] = []  # every log record of this process while these tests ran
ASKED: list[str] = []  # every question (a made-up word in each) sent anywhere

WORDS = (
    "camera plate reader county sheriff deputy audit retention policy vendor contract hotlist search "
    "warrant council ordinance database network agency federal records request vehicle location "
    "parking garage highway bridge school harbor orchard river station district hearing budget grant"
).split()


def question(word: str) -> str:
    ASKED.append(word)
    return f"Does {word} share drone footage with ICE?"


class _Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("httpx", "httpcore")):  # this test's own client logs its URLs
            return
        RECORDS.append(f"{record.name} {record.getMessage()} {record.exc_text or ''}")


@pytest.fixture(autouse=True)
def collect_logs() -> Iterator[None]:
    handler = _Collect(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def text_for(name: str, seed: int, paragraphs: int = 3) -> str:
    rng = random.Random(f"{name}-{seed}")
    body = [
        f"{name} note {p}. "
        + " ".join(
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 14))).capitalize() + "."
            for _ in range(4)
        )
        for p in range(paragraphs)
    ]
    return f"Surveillance notes for {name}\n\n" + "\n\n".join(body) + "\n"


def write_folder(folder: Path, prefix: str, count: int, seed: int) -> None:
    folder.mkdir(parents=True)
    for n in range(count):
        name = f"{prefix}-{n:02d}"
        (folder / f"{name}.txt").write_text(text_for(name, seed), encoding="utf-8")


def api_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = cli_env(data_dir)
    env.update(
        PLAINSIGHT_API_KEY=KEY,
        PLAINSIGHT_RATE_LIMIT_PER_MINUTE="0",
        PLAINSIGHT_WRITE_LOCK_TIMEOUT="1",
        PLAINSIGHT_FETCH_ALLOW_HOSTS=ALLOWED,
        PLAINSIGHT_FETCH_TIMEOUT="3",
        **extra,
    )
    return env


@contextmanager
def serving(data_dir: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """`plainsight serve` as a process; yields its base URL once /healthz answers."""
    LOGS.append(log)
    with plainsight_serve(env, log) as base:
        yield base


def cli(data_dir: Path, log_dir: Path, *args: str, **extra: str) -> subprocess.Popen:
    """`plainsight` with the output kept in log files that the last test greps."""
    n = len(LOGS)
    out, err = log_dir / f"cli-{n}.out", log_dir / f"cli-{n}.err"
    LOGS.extend([out, err])
    env = {**cli_env(data_dir), "PLAINSIGHT_WRITE_LOCK_TIMEOUT": "120", **extra}
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen([str(PLAINSIGHT), *args], stdout=o, stderr=e, env=env, cwd=log_dir)
    proc.out, proc.err = out, err  # type: ignore[attr-defined]
    return proc


def stored(database: Path, collection: str) -> int:
    """Records in one of the store's collections, read cheaply from Chroma's SQLite file (only to
    time a kill; every assertion goes through the `Store`)."""
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1)) as db:
            (count,) = db.execute(
                "SELECT count(*) FROM embeddings e JOIN segments s ON e.segment_id = s.id "
                "JOIN collections c ON s.collection = c.id WHERE c.name = ?",
                (collection,),
            ).fetchone()
            return count
    except sqlite3.Error:
        return -1


def holder_pid(data_dir: Path) -> int | None:
    try:
        return json.loads((data_dir / HOLDER_FILE).read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


class Readers:
    """Clients asking and searching in a loop; every status they got is kept."""

    def __init__(self, base: str, clients: int = 2) -> None:
        self.base, self.statuses, self.stop = base, [], threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(clients)]

    def run(self, n: int) -> None:
        with httpx.Client(base_url=self.base, timeout=120) as client:
            while not self.stop.is_set():
                word = f"Quarvix{n}{len(self.statuses)}"
                if len(self.statuses) % 2:
                    got = client.get("/v1/search", params={"q": question(word)})
                else:
                    got = client.post("/v1/ask", json={"question": question(word)})
                self.statuses.append(got.status_code)

    def __enter__(self) -> Readers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(120)


def assert_exact_store(where: Deployment, expected_docs: set[str]) -> dict:
    """The registry holds exactly `expected_docs`, each with all its chunks (ids `doc#0..n-1`, its
    registered version), and no chunk belongs to anything else."""
    got = where.snapshot()
    assert set(got["docs"]) == expected_docs, (
        sorted(expected_docs - set(got["docs"])),
        sorted(set(got["docs"]) - expected_docs),
    )
    by_doc: dict[str, set[str]] = {}
    for cid, (digest, _text, meta) in got["chunks"].items():
        doc_id = meta["doc_id"]
        assert doc_id in got["docs"] and digest == got["docs"][doc_id][0], f"orphan chunk {cid}"
        by_doc.setdefault(doc_id, set()).add(cid)
    for doc_id, (_digest, count, *_rest) in got["docs"].items():
        assert count > 0 and by_doc.get(doc_id) == {f"{doc_id}#{n}" for n in range(count)}, doc_id
    return got


# --- the store: one writer at a time, readers never fail ----------------------------------------


@dataclass(frozen=True)
class Deployment:
    base: str  # the API
    data_dir: Path  # PLAINSIGHT_DATA_DIR
    root: Path  # logs, folders
    env: dict[str, str]  # what every process of it is configured with, beyond the data folder
    database: Path  # Chroma's SQLite file (only to time kills)

    def snapshot(self) -> dict:
        if not self.env:  # a store other processes wrote is read from a fresh process
            return snapshot_dir(self.data_dir)
        server = Settings(data_dir=self.data_dir, chroma_host="127.0.0.1", chroma_port=self.env["port"])
        return json.loads(json.dumps(snapshot(Store(server))))


def seeded(root: Path, env: dict[str, str]) -> Path:
    data_dir, seed = root / "data", root / "seed"
    seed.mkdir()
    for name in ("drones.md", "alpr-basics.md", "face-recognition.md", "flock-safety.md"):
        shutil.copy(CORPUS / name, seed / name)
    done = cli(data_dir, root, "ingest", str(seed), "--json", **env)
    assert done.wait(300) == 0, done.err.read_text()
    return data_dir


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> Iterator[Deployment]:
    """`plainsight serve` on an embedded store seeded with four corpus files by `plainsight ingest`."""
    root = tmp_path_factory.mktemp("faults")
    data_dir = seeded(root, {})
    with serving(data_dir, api_env(data_dir), root / "serve.log") as base:
        yield Deployment(base, data_dir, root, {}, data_dir / "chroma.sqlite3")


@pytest.fixture(scope="module")
def on_server(tmp_path_factory) -> Iterator[Deployment]:
    """The same on a Chroma server, where several writers may write at once."""
    root = tmp_path_factory.mktemp("faults-server")
    with chroma_server(root / "chroma") as port:
        env = {"PLAINSIGHT_CHROMA_HOST": "127.0.0.1", "PLAINSIGHT_CHROMA_PORT": str(port)}
        data_dir = seeded(root, env)
        with serving(data_dir, api_env(data_dir, **env), root / "serve.log") as base:
            yield Deployment(
                base, data_dir, root, {**env, "port": str(port)}, root / "chroma" / "chroma.sqlite3"
            )


def test_cli_ingest_beside_a_running_api_never_breaks_its_answers(embedded):
    base, data_dir, root = embedded.base, embedded.data_dir, embedded.root
    write_folder(root / "beside", "beside", 24, seed=0)
    with Readers(base) as readers:
        proc = cli(data_dir, root, "ingest", str(root / "beside"), "--json")
        deadline = time.monotonic() + 120
        while holder_pid(data_dir) != proc.pid and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        busy = httpx.post(
            base + "/v1/documents", headers=STAFF, files={"file": ("late.txt", text_for("late", 0))}
        )
        assert proc.wait(300) == 0, proc.err.read_text()
    report = json.loads(proc.out.read_text())
    print(f"upload during the CLI ingest: {busy.status_code}")
    assert report["added"] == 24
    if busy.status_code != 201:  # the CLI still held the store when the upload came
        assert busy.status_code == 503, busy.text
        detail = busy.json()["detail"]
        assert f"another process is writing to {data_dir} (pid {proc.pid}, plainsight ingest)" in detail
        assert "use a Chroma server for several writers" in detail
    assert readers.statuses and set(readers.statuses) == {200}, readers.statuses
    found = httpx.get(base + "/v1/search", params={"q": "beside-07 note", "k": 3}).json()["results"]
    assert "beside-07" in [r["doc_id"] for r in found]  # the API sees what the CLI wrote
    assert httpx.get(base + "/healthz").status_code == 200
    with Store(Settings(data_dir=data_dir)).writing():  # this process holds the store now
        held = httpx.post(base + "/v1/documents", headers=STAFF, files={"file": ("x.txt", text_for("x", 0))})
    assert held.status_code == 503, held.text
    assert held.json()["detail"] == (
        f"another process is writing to {data_dir} (pid {os.getpid()}, pytest); try again when it "
        "finishes, or use a Chroma server for several writers"
    )


def test_a_second_writer_waits_then_says_who_holds_the_store(tmp_path, make_store):
    store = make_store()
    folder = tmp_path / "few"
    write_folder(folder, "few", 1, seed=1)
    with store.writing():  # this process holds the store
        started = time.monotonic()
        got = subprocess.run(
            [str(PLAINSIGHT), "ingest", str(folder)],
            capture_output=True, text=True, timeout=300,
            env={**cli_env(store.settings.data_dir), "PLAINSIGHT_WRITE_LOCK_TIMEOUT": "1"},
        )  # fmt: skip
        assert time.monotonic() - started < 120
        other = Store(store.settings.model_copy(update={"write_lock_timeout": 0.2}))
        with pytest.raises(StoreBusy, match="another request in this process is writing"):
            with other.writing():
                pass
    assert got.returncode == 2, got.stderr
    assert f"another process is writing to {store.settings.data_dir} (pid {os.getpid()}," in got.stderr
    assert "try again when it finishes, or use a Chroma server for several writers" in got.stderr
    assert "Traceback" not in got.stderr


def test_deleting_an_unknown_document_changes_nothing(make_store):
    store = make_store()
    ingest_document(store, "kept.txt", text_for("kept", 2).encode())
    before = store.fingerprint()
    assert delete_document(store, "no-such-document") is False
    assert store.fingerprint() == before


def upload_with_retries(base: str, name: str, text: str, log: list) -> int:
    """POST a document; a 503 (the store is held by the CLI) is retried, as a client would."""
    with httpx.Client(base_url=base, timeout=300) as client:
        for _ in range(400):
            got = client.post("/v1/documents", headers=STAFF, files={"file": (name, text.encode())})
            log.append(got.status_code)
            if got.status_code != 503:
                return got.status_code
            assert "another process is writing to" in got.json()["detail"]
            time.sleep(0.3)
    return 503


RACES = [  # (deployment, seed, where the CLI is killed)
    ("embedded", 11, "reading"),
    ("embedded", 12, "chunks written"),
    ("embedded", 13, "registering"),
    ("on_server", 21, "chunks written"),
    ("on_server", 22, "reading"),
]


@pytest.mark.parametrize(("deployment", "seed", "kill_at"), RACES)
def test_uploads_answered_201_survive_a_cli_ingest_killed_at_a_random_point(
    request, deployment, seed, kill_at
):
    """Embedded: the uploads wait for the CLI's lock (503, retried) and go on once it is killed.
    Chroma server: they are written beside it, and the re-run's repair meets them in flight."""
    where: Deployment = request.getfixturevalue(deployment)
    base, data_dir, root = where.base, where.data_dir, where.root
    env = {k: v for k, v in where.env.items() if k.startswith("PLAINSIGHT_")}
    rng = random.Random(seed)
    folder = root / f"race-{seed}"
    write_folder(folder, f"race{seed}", 16, seed)
    uploads = {f"upload{seed}-{n}": text_for(f"upload{seed}-{n}", seed, 2) for n in range(8)}
    statuses: dict[str, int] = {}
    seen: list[int] = []
    before = set(where.snapshot()["docs"])

    def uploader() -> None:
        for name, text in uploads.items():
            statuses[name] = upload_with_retries(base, f"{name}.txt", text, seen)
            time.sleep(rng.uniform(0, 0.5))

    with Readers(base, clients=1) as readers:
        proc = cli(data_dir, root, "ingest", str(folder), "--json", **env)
        thread = threading.Thread(target=uploader)
        thread.start()
        deadline = time.monotonic() + 120
        if env:  # no lock to watch: give it the time to start
            time.sleep(3)
        while (
            not env
            and holder_pid(data_dir) != proc.pid
            and proc.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        chunks, documents = stored(where.database, "plainsight"), stored(where.database, "plainsight_docs")
        if kill_at == "reading":
            time.sleep(rng.uniform(0, 2))
        else:  # once its first chunks are written (or first documents registered), a moment later
            name, start = (
                ("plainsight", chunks) if kill_at == "chunks written" else ("plainsight_docs", documents)
            )
            while (
                stored(where.database, name) <= start + 1
                and proc.poll() is None
                and time.monotonic() < deadline
            ):
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.3))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(60)
        print(f"{deployment} seed {seed}: ingest exit {proc.returncode}, {len(seen)} upload attempts so far")
        again = cli(data_dir, root, "ingest", str(folder), "--json", **env)  # uploads still under way
        assert again.wait(300) == 0, again.err.read_text()
        thread.join(600)
    assert set(readers.statuses) <= {200}, readers.statuses
    assert set(statuses.values()) == {201}, statuses
    expected = before | set(uploads) | {f"race{seed}-{n:02d}" for n in range(16)}
    assert_exact_store(where, expected)


def test_repair_on_a_chroma_server_never_deletes_another_writers_document_in_flight(tmp_path, embeddings):
    with chroma_server(tmp_path / "chroma") as port:
        settings = Settings(data_dir=tmp_path / "local", chroma_host="127.0.0.1", chroma_port=port,
                            writer_lease_seconds=2)  # fmt: skip
        writer, other = Store(settings, embeddings=embeddings), Store(settings, embeddings=embeddings)
        text = text_for("inflight", 3)
        item = check(writer, "inflight.txt", load_bytes("inflight.txt", text.encode(), {}))
        with writer.writing():  # the upload: chunks written, not yet registered ...
            writer.write_chunks(item.chunks, *embed_chunks(writer, item.chunks))
            assert repair(other) == 0  # ... when another process's ingest starts: its repair waits
            writer.register_all({item.doc_id: registry_record(item)})
        record = other.document(item.doc_id)
        assert record is not None and record.chunks == len(item.chunks)
        assert len(list(other.iter_chunks(where={"doc_id": item.doc_id}))) == record.chunks

        crashed = check(writer, "crashed.txt", load_bytes("crashed.txt", text_for("crashed", 4).encode(), {}))
        with writer.writing():  # a writer that dies mid-write: its lease is never renewed again
            writer.write_chunks(crashed.chunks, *embed_chunks(writer, crashed.chunks))
            writer._heartbeat[1].set()  # the heartbeat stops as if the process were killed
            assert repair(other) == 0  # still within its lease
            time.sleep(2.5)
            assert repair(other) == len(crashed.chunks)  # expired: the crash's chunks go
            assert not list(other.iter_chunks(where={"doc_id": crashed.doc_id}))
        assert other.document(item.doc_id).chunks == record.chunks  # the finished one stays whole
        assert len(list(other.iter_chunks(where={"doc_id": item.doc_id}))) == record.chunks


# --- URL ingest cannot reach inside -------------------------------------------------------------


class _Site(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []
    version = [1]

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        type(self).hits.append(f"{self.server.server_address[0]}{self.path}")
        if self.path.startswith("/to/"):  # /to/<host:port>/<path>: a redirect there
            self.send_response(302)
            self.send_header("Location", "http://" + self.path[len("/to/") :])
            self.end_headers()
            return
        if self.path == "/drip.txt":  # one byte a second, for ever
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            try:
                for _ in range(120):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                pass
            return
        body = (
            f"<html><head><title>Zinnford {self.path}</title></head><body><article><h1>Zinnford</h1>"
            f"<p>Zinnford secret internal page {self.path} version {type(self).version[0]}: the "
            f"records office keeps camera footage for {20 + type(self).version[0]} days.</p>"
            "</article></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def site(host: str) -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer((host, 0), _Site)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{host}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_url_ingest_refuses_every_address_inside_and_keeps_the_given_name(embedded, tmp_path):
    base, data_dir, root = embedded.base, embedded.data_dir, embedded.root
    api_port = base.rsplit(":", 1)[1]
    with site("127.0.0.1") as inside, site(ALLOWED) as allowed:
        port = inside.rsplit(":", 1)[1]
        attempts = [
            f"http://{inside}/secret.html",
            f"http://localhost:{port}/secret.html",
            f"http://0.0.0.0:{port}/secret.html",
            f"http://[::1]:{port}/secret.html",
            f"http://[::ffff:127.0.0.1]:{port}/secret.html",
            f"http://2130706433:{port}/secret.html",  # 127.0.0.1 as one number
            f"http://127.1:{port}/secret.html",
            f"http://127.0.0.1:{api_port}/healthz",  # the server's own endpoints
            f"http://10.0.0.1:{port}/secret.html",  # private: refused before any packet is sent
            "http://169.254.169.254/latest/meta-data/",  # a cloud metadata endpoint
            f"http://[fd00::1]:{port}/secret.html",
            f"http://{allowed}/to/{inside}/secret.html",  # an allowed host redirecting inside
            f"http://{allowed}/to/localhost:{port}/secret.html",
        ]
        for url in attempts:
            got = httpx.post(base + "/v1/documents", headers=STAFF, data={"url": url}, timeout=60)
            assert got.status_code == 422, (url, got.text)
            assert "not a public web server" in got.json()["detail"], (url, got.text)
        staff = Store(Settings(data_dir=tmp_path / "staff"))  # the staff page's path, same fetcher
        assert "not a public web server" in ingest_url(staff, attempts[1], {}).reason
        proc = cli(data_dir, root, "ingest", attempts[0], attempts[4], attempts[-1], "--json")
        assert proc.wait(300) == 1, proc.err.read_text()  # every address failed
        report = json.loads(proc.out.read_text())
        assert [r["status"] for r in report["files"]] == ["failed"] * 3
        assert all("not a public web server" in r["reason"] for r in report["files"]), report
        assert not [h for h in _Site.hits if h.startswith("127.0.0.1")], _Site.hits  # never fetched

        first = httpx.post(base + "/v1/documents", headers=STAFF, data={"url": f"http://{allowed}/a.html"})
        assert first.status_code == 201, first.text
        _Site.version[0] = 2  # a.html changes, and another address redirects to it
        moved = httpx.post(
            base + "/v1/documents", headers=STAFF, data={"url": f"http://{allowed}/to/{allowed}/a.html"}
        )
        assert moved.status_code == 201, moved.text
        assert moved.json()["doc_id"] != first.json()["doc_id"]  # named after the address given
        kept = httpx.get(base + f"/v1/documents/{first.json()['doc_id']}", headers=STAFF).json()
        assert kept["source_url"] == f"http://{allowed}/a.html"  # the redirect replaced nothing
        bad_date = httpx.post(
            base + "/v1/documents",
            headers=STAFF,
            data={"url": f"http://{allowed}/b.html", "published": "soon"},
        )
        assert bad_date.status_code == 422 and "published" in bad_date.json()["detail"]

        started = time.monotonic()
        drip = httpx.post(base + "/v1/documents", headers=STAFF, data={"url": f"http://{allowed}/drip.txt"})
        assert time.monotonic() - started < 10, "the 3 s deadline held"
        assert drip.status_code == 422 and "longer than 3 seconds" in drip.json()["detail"]
    leaked = httpx.get(base + "/v1/search", params={"q": "Zinnford secret internal page secret.html"}).json()
    assert not [r for r in leaked["results"] if "secret.html" in r["text"]]


# --- no question in any log -------------------------------------------------------------------


def test_lone_surrogates_invalid_json_and_bad_fields_are_answered_without_a_500(embedded):
    base = embedded.base
    word = "Vexmoor"
    ASKED.append(word)
    raw = [
        '{"question": "Vexmoor drones \\ud800 ?"}',
        '{"question": "Vexmoor \\udfff", "history": [{"role": "user", "content": "Vexmoor \\ud83d"}]}',
        '{"question": "Vexmoor drones',  # invalid JSON
        '{"question": "Vexmoor", "history": [{"role": "mayor", "content": "Vexmoor"}]}',
        '{"question": "' + "Vexmoor " * 200 + '"}',  # too long
        '{"question": ["Vexmoor"]}',
        '{"question": "Vexmoor", "town": "Vexmoor \\ud800"}',
    ]
    for body in raw:
        for path in ("/v1/ask", "/v1/ask/stream"):
            got = httpx.post(
                base + path, content=body, headers={"Content-Type": "application/json"}, timeout=120
            )
            assert got.status_code in (200, 422), (body[:60], got.status_code, got.text[:200])
            if got.status_code == 422:  # where and why, never the input
                assert word not in got.text, got.text[:300]
    answered = httpx.post(
        base + "/v1/ask", content=raw[0], headers={"Content-Type": "application/json"}, timeout=120
    )
    assert answered.status_code == 200 and answered.json()["question"] == "Vexmoor drones \ufffd ?"
    searched = httpx.get(base + "/v1/search?q=Vexmoor%ED%A0%80", timeout=60)
    assert searched.status_code == 200


def test_no_question_reached_any_log():
    assert ASKED and LOGS
    texts = [path.read_text(errors="replace") for path in LOGS if path.exists()]
    texts += RECORDS
    for word in ASKED:
        assert not [t for t in texts if word in t], f"'{word}' reached a log"
