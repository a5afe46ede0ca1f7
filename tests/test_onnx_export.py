"""The ONNX backend: an export of the bundled model that is faithful to PyTorch, cached, atomic,
and run without importing PyTorch.

Real model, real export (about 10 s for fp32, 15 s for int8 on 2 cores), so each variant is
exported once per session into a temporary cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bot.core.embeddings import bundled_model_path
from bot.core.encoder import LocalEmbeddings, OnnxEmbeddings
from bot.core.onnx_export import FP32_FILE, INT8_FILE, onnx_model_dir
from bot.core.sentences import sentence_spans
from bot.core.settings import Settings
from bot.core.store import Store
from ingest.pipeline import ingest_paths

ROOT = Path(__file__).resolve().parent.parent
PASSAGES = [
    "How long does Minnesota let police keep plate data?",
    "Retention",
    (ROOT / "corpus" / "alpr-basics.md").read_text(encoding="utf-8")[400:1300],
    (ROOT / "corpus" / "drones.md").read_text(encoding="utf-8")[:3000],  # beyond 256 tokens: truncated
]


def load(folder: Path, file_name: str) -> OnnxEmbeddings:
    return OnnxEmbeddings(folder, file_name)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def torch_model() -> LocalEmbeddings:
    return LocalEmbeddings(bundled_model_path())


@pytest.fixture(scope="module")
def fp32(cache: Path) -> tuple[Path, str]:
    return onnx_model_dir(bundled_model_path(), cache, quantized=False)


@pytest.fixture(scope="module")
def int8(cache: Path) -> tuple[Path, str]:
    return onnx_model_dir(bundled_model_path(), cache, quantized=True)


def test_fp32_export_is_a_loadable_model_with_torch_vectors(fp32, torch_model):
    folder, file_name = fp32
    assert file_name == FP32_FILE and (folder / file_name).is_file()
    assert not list(folder.glob("*.safetensors")), "the ONNX folder needs no PyTorch weights"
    model = load(folder, file_name)
    expected = torch_model.encode(PASSAGES)
    assert model.encode(PASSAGES).shape == (len(PASSAGES), 384)
    assert cosines(model.encode(PASSAGES), expected).min() >= 0.999  # batched, so padded
    assert cosines(model.encode(PASSAGES[2:3]), expected[2:3]).min() >= 0.999  # alone, unpadded


def test_int8_export_is_close_to_torch(int8, torch_model):
    folder, file_name = int8
    assert file_name == INT8_FILE and (folder / file_name).is_file()
    assert not (folder / FP32_FILE).exists(), "the int8 folder keeps only the int8 file"
    weights = sum(f.stat().st_size for f in (folder / file_name).parent.iterdir())  # model + its data
    assert weights < 30e6  # ~23 MB instead of ~90 MB
    vectors = load(folder, file_name).encode(PASSAGES)
    assert cosines(vectors, torch_model.encode(PASSAGES)).min() >= 0.97


def test_second_call_reuses_the_cache(fp32, int8, cache):
    for (folder, file_name), quantized in ((fp32, False), (int8, True)):
        mtime = (folder / file_name).stat().st_mtime_ns
        start = time.perf_counter()
        assert onnx_model_dir(bundled_model_path(), cache, quantized=quantized) == (folder, file_name)
        assert time.perf_counter() - start < 1.0
        assert (folder / file_name).stat().st_mtime_ns == mtime
    assert sorted(p.name for p in cache.iterdir()) == sorted([fp32[0].name, int8[0].name])  # no temp left


def test_onnx_sentence_vectors_match_torch(fp32, torch_model):
    """Late chunking (bot.core.encoder) averages per-token vectors: ONNX must give the same ones."""
    spans = [sentence_spans(p) for p in PASSAGES]
    passages, sentences = load(*fp32).embed_passages(PASSAGES, spans)
    ref_passages, ref_sentences = torch_model.embed_passages(PASSAGES, spans)
    assert cosines(passages, ref_passages).min() >= 0.999
    for rows, ref in zip(sentences, ref_sentences, strict=True):
        assert rows.shape == ref.shape and cosines(rows, ref).min() >= 0.999


def test_an_answering_process_never_imports_torch(fp32, tmp_path):
    """The point of the backend for cold starts: ingest and answer on ONNX, torch never loaded."""
    settings = Settings(data_dir=tmp_path / "data", model_cache=fp32[0].parent)
    ingest_paths(Store(settings), [ROOT / "corpus" / "norwalk-faq.md"])
    code = (
        "import sys; from bot.chain import AnswerChain; from bot.core.settings import Settings; "
        "a = AnswerChain(Settings()).invoke('Does Norwalk share plate data with ICE?'); "
        "print(a.refused, len(a.citations), 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PLAINSIGHT_DATA_DIR": str(tmp_path / "data"),
        "PLAINSIGHT_MODEL_CACHE": str(fp32[0].parent),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    refused, citations, torch_loaded, transformers_loaded = out.stdout.split()
    assert refused == "False" and int(citations) >= 1
    assert (torch_loaded, transformers_loaded) == ("False", "False")


def test_a_store_keeps_the_backend_that_built_it(tmp_path, embeddings):
    built = Store(Settings(data_dir=tmp_path / "data", embedding_backend="torch"), embeddings=embeddings)
    assert built.settings.embedding_backend == "torch"
    reopened = Store(Settings(data_dir=tmp_path / "data", embedding_backend="onnx-int8"))
    assert reopened.settings.embedding_backend == "torch"
    assert isinstance(reopened.embeddings, LocalEmbeddings)
    assert not isinstance(reopened.embeddings, OnnxEmbeddings)


def test_concurrent_exports_leave_one_complete_model(tmp_path, fp32, torch_model):
    """Two processes exporting at once, beside the leftovers of a crashed export: both get the same
    complete folder, and the half-written one is never mistaken for the model."""
    crashed = tmp_path / f".tmp-{fp32[0].name}-crashed"
    (crashed / "onnx").mkdir(parents=True)
    (crashed / FP32_FILE).write_bytes(b"half a model")
    code = (
        "import sys; from pathlib import Path; from bot.core.onnx_export import onnx_model_dir; "
        "from bot.core.embeddings import bundled_model_path; "
        "print(onnx_model_dir(bundled_model_path(), Path(sys.argv[1]), quantized=False)[0])"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, env=env, stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    folders = {proc.communicate(timeout=600)[0].decode().strip() for proc in procs}
    assert all(proc.returncode == 0 for proc in procs)
    assert folders == {str(tmp_path / fp32[0].name)}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fp32[0].name, crashed.name])
    vectors = load(tmp_path / fp32[0].name, FP32_FILE).encode(PASSAGES[:2])
    assert cosines(vectors, torch_model.encode(PASSAGES[:2])).min() >= 0.999


def test_only_local_sentence_transformers_folders(tmp_path):
    with pytest.raises(FileNotFoundError):
        onnx_model_dir("sentence-transformers/all-MiniLM-L6-v2", tmp_path, quantized=False)
