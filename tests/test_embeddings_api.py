"""Embeddings over HTTP, both ways.

`POST /v1/embeddings` serves this process's model in OpenAI's shape (the official `openai` client
reads it), and a second Plainsight configuration with `PLAINSIGHT_EMBEDDINGS_URL` pointing at it
ingests and answers through LangChain's `OpenAIEmbeddings`, without tiktoken. A collection built
through the server refuses to be opened with another model, another model name or another server.
"""

from __future__ import annotations

import numpy as np
import openai
import pytest
from conftest import CORPUS
from live_server import serve_app

from bot.chain import AnswerChain, Ask
from bot.core.embeddings import NormalizedEmbeddings
from bot.core.settings import Settings
from bot.core.store import Store, StoreError, embedding_text
from bot.interfaces.api import create_app
from ingest.pipeline import ingest_paths

KEY = "embeddings-key-77"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DOCS = [CORPUS / "minnesota-alpr-law.md", CORPUS / "drones.md"]
TEXTS = ["How long may police keep plate data?", "Drones with cameras", "a third, unrelated sentence"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, embeddings):
    """A Plainsight API (empty store) whose /v1/embeddings serves the session's model."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("served") / "data", api_key=KEY)
    chain = AnswerChain(settings, Store(settings, embeddings=embeddings))
    with serve_app(create_app(settings, chain)) as url:
        yield url + "/v1"


@pytest.fixture
def no_tiktoken(monkeypatch):
    """tiktoken downloads its vocabularies from the network: fail loudly if anything asks for one."""
    import tiktoken

    def refuse(*args, **kwargs):
        raise AssertionError("tiktoken was used (it needs the network)")

    monkeypatch.setattr(tiktoken, "get_encoding", refuse)
    monkeypatch.setattr(tiktoken, "encoding_for_model", refuse)


def test_openai_client_reads_the_local_model_vectors(server, embeddings):
    client = openai.OpenAI(base_url=server, api_key=KEY)
    local = np.asarray(embeddings.embed_documents(TEXTS))

    as_base64 = client.embeddings.create(model=MODEL, input=TEXTS)  # the client's default encoding
    as_float = client.embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS, encoding_format="float")
    one = client.embeddings.create(model=MODEL, input=TEXTS[0])

    for got in (as_base64, as_float):
        assert got.model == MODEL and [d.index for d in got.data] == [0, 1, 2]
        assert np.allclose(np.asarray([d.embedding for d in got.data]), local, atol=1e-5)
        assert got.usage.prompt_tokens > 0
    assert len(one.data) == 1 and np.allclose(one.data[0].embedding, local[0], atol=1e-5)
    assert [m.id for m in client.models.list()] == [MODEL]


def test_bad_embedding_requests_are_refused(server):
    client = openai.OpenAI(base_url=server, api_key=KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.embeddings.create(model="text-embedding-3-small", input="x")
    with pytest.raises(openai.BadRequestError, match="384 dimensions"):
        client.embeddings.create(model=MODEL, input="x", dimensions=256)
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model=MODEL, input=["x"] * 2049)
    with pytest.raises(openai.UnprocessableEntityError):
        client.embeddings.create(model=MODEL, input=[[1, 2, 3]])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server, api_key="wrong", max_retries=0).embeddings.create(
            model=MODEL, input="x"
        )


def test_second_configuration_ingests_and_answers_through_the_server(
    server, embeddings, tmp_path, no_tiktoken
):
    remote = Settings(data_dir=tmp_path / "remote", embeddings_url=server + "/", embeddings_api_key=KEY)
    store = Store(remote)  # no model handed in: it must come from the settings
    assert isinstance(store.embeddings, NormalizedEmbeddings)
    assert store._chunks.metadata["embedding_model"] == f"{MODEL}@{server}"

    report = ingest_paths(store, DOCS)
    assert report.count("added") == 2, report.to_json()
    chunk = next(store.iter_chunks(where={"doc_id": "drones"}))
    stored = store._chunks.get(ids=[chunk.id], include=["embeddings"])["embeddings"][0]
    local = embeddings.embed_query(embedding_text(chunk.metadata, chunk.metadata["section"], chunk.text))
    assert float(np.dot(stored, local)) == pytest.approx(1.0, abs=1e-4)

    # a server gives no per-token vectors, so no sentence vectors are stored: the answerer embeds
    # candidate sentences through the server; retrieval is the same as with the local model
    assert store._sentences.count() == 0
    local_store = Store(Settings(data_dir=tmp_path / "local"), embeddings=embeddings)
    ingest_paths(local_store, DOCS)
    for question in ("How long does Minnesota let police keep plate data?", "Do cops use flying cameras?"):
        remote_chain, local_chain = AnswerChain(remote, store), AnswerChain(local_store.settings, local_store)
        remote_hits, local_hits = (chain.prepare(Ask(question)).hits for chain in (remote_chain, local_chain))
        assert [h.chunk.id for h in remote_hits] == [h.chunk.id for h in local_hits]
        answer = remote_chain.invoke(question)
        assert not answer.refused and answer.citations
    assert answer.citations[0].doc_id == "drones"


def test_a_store_refuses_vectors_from_another_model_or_server(server, tmp_path, embeddings):
    remote = Settings(data_dir=tmp_path / "remote", embeddings_url=server, embeddings_api_key=KEY)
    Store(remote)  # created through the server

    others = [
        Settings(data_dir=remote.data_dir),  # the local model
        remote.model_copy(update={"embeddings_model": "nomic-embed-text"}),  # another model name
        remote.model_copy(update={"embeddings_url": server.replace("127.0.0.1", "localhost")}),  # server
    ]
    for other in others:
        with pytest.raises(StoreError, match="built with embedding model"):
            Store(other, embeddings=embeddings)
    assert Store(remote)._chunks.metadata["embedding_model"] == f"{MODEL}@{server}"

    local = Settings(data_dir=tmp_path / "local")
    Store(local, embeddings=embeddings)
    with pytest.raises(StoreError, match=f"this configuration uses '{MODEL}@"):
        Store(local.model_copy(update={"embeddings_url": server}))
