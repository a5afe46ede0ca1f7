"""Shared fixtures: one embedding model per session, throwaway stores, the corpus indexed once.

Everything is real: the bundled MiniLM model, an embedded Chroma store in a temporary folder and
the `plainsight` console script. Loading the model costs seconds, so it is loaded once and handed
to every `Store` the tests open.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import pytest  # noqa: E402

from bot.core.embeddings import make_embeddings  # noqa: E402
from bot.core.settings import Settings  # noqa: E402
from bot.core.store import Store  # noqa: E402
from ingest.pipeline import FileResult, ingest_paths  # noqa: E402

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CORPUS = ROOT / "corpus"
SHARED = ROOT.parent / "shared"
REALDOCS = SHARED / "realdocs"
REALDOCS2 = SHARED / "realdocs2"
SEED = SHARED / "seed"
PLAINSIGHT = Path(sys.executable).with_name("plainsight")


@pytest.fixture(scope="session")
def embeddings():
    """The bundled embedding model, loaded once for the whole session."""
    return make_embeddings(Settings())


@pytest.fixture
def make_store(tmp_path: Path, embeddings) -> Callable[..., Store]:
    """Factory: `make_store()` or `make_store("other", chunk_size=200)` opens a fresh store."""

    def make(name: str = "data", **overrides: Any) -> Store:
        return Store(Settings(data_dir=tmp_path / name, **overrides), embeddings=embeddings)

    return make


@pytest.fixture(scope="session")
def corpus_store(tmp_path_factory, embeddings) -> Store:
    """corpus/ ingested once, for tests that only read."""
    store = Store(Settings(data_dir=tmp_path_factory.mktemp("corpus") / "data"), embeddings=embeddings)
    report = ingest_paths(store, [CORPUS])
    assert report.count("added") == 16, report.to_json()
    return store


@pytest.fixture(scope="session")
def real_store(tmp_path_factory, embeddings) -> tuple[Store, Any]:
    """../shared/seed, realdocs and realdocs2 ingested once into one store (several minutes), with
    the ingest report; skipped when the shared folder is absent."""
    folders = [f for f in (REALDOCS, REALDOCS2, SEED) if f.is_dir()]
    if not folders:
        pytest.skip(f"no real documents beside the project ({SHARED})")
    store = Store(Settings(data_dir=tmp_path_factory.mktemp("real") / "data"), embeddings=embeddings)
    return store, ingest_paths(store, folders)


def ingest_one(store: Store, path: Path) -> FileResult:
    """Ingest a single file (or a folder holding one file) and return its result."""
    (result,) = ingest_paths(store, [path]).results
    return result


def chunks_of(store: Store, doc_id: str) -> list:
    """A document's stored chunks in chunk order."""
    return sorted(store.iter_chunks(where={"doc_id": doc_id}), key=lambda c: c.metadata["chunk"])


def snapshot(store: Store) -> dict[str, Any]:
    """Everything that defines a store's contents, as JSON-compatible data.

    The registry's `indexed_at` is left out: it is a clock reading, not content; so is the chunks'
    `writer` (which process wrote them).
    """
    docs = {
        r.doc_id: [r.content_hash, r.chunks, r.source, r.title, r.jurisdiction] for r in store.documents()
    }
    chunks = {
        c.id: [c.metadata.get("content_hash"), c.text, {k: v for k, v in c.metadata.items() if k != "writer"}]
        for c in store.iter_chunks()
    }
    return json.loads(json.dumps({"docs": docs, "chunks": chunks}, sort_keys=True))


SNAPSHOT_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from conftest import snapshot
from bot.core.settings import Settings
from bot.core.store import Store
print(json.dumps(snapshot(Store(Settings(data_dir=Path(sys.argv[2]))))))
"""


def snapshot_dir(data_dir: Path) -> dict[str, Any]:
    """`snapshot` of a store written by another process, read in a fresh process of its own.

    Chroma caches one client per folder inside a process, so a store that a subprocess changed is
    read from a new process rather than through a possibly stale cached client.
    """
    done = subprocess.run(
        [sys.executable, "-c", SNAPSHOT_SCRIPT, str(TESTS), str(data_dir)],
        capture_output=True,
        text=True,
        env=cli_env(data_dir),
        cwd=data_dir.parent,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def cli_env(data_dir: Path) -> dict[str, str]:
    """The environment for a `plainsight` subprocess: only the data folder is configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAINSIGHT_")}
    env.update(PLAINSIGHT_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    return env


def run_cli(data_dir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the installed `plainsight` console script against `data_dir`."""
    exe = str(PLAINSIGHT) if PLAINSIGHT.exists() else shutil.which("plainsight")
    assert exe, "the plainsight console script is not installed"
    return subprocess.run(
        [exe, *args],
        capture_output=True,
        text=True,
        env=cli_env(data_dir),
        cwd=data_dir.parent,
        timeout=timeout,
    )


def pdf_of(*pages: str, size: str | tuple[float, float] = "letter") -> bytes:
    """A text PDF (fpdf2, Helvetica 12 pt, lines wrapped at the page width), one string a page;
    `size` is a paper name or (width, height) in millimetres."""
    from fpdf import FPDF

    pdf = FPDF(format=size)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 7, text)
    return bytes(pdf.output())
