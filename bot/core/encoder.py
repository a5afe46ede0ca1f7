"""The local embedding model, which also gives each sentence of a passage its own vector.

The grounded answerer ranks the sentences of retrieved passages by meaning. Embedding them per
question cost most of an answer's time, and embedding them separately at ingest would double
ingest time. Here a passage is encoded once, and each sentence's vector is the mean of its own
tokens' contextual embeddings from that same pass ("late chunking"): sentence vectors come free,
and they carry the passage's context ("it" in a sentence knows what "it" is).

Two ways to run the model: PyTorch through sentence-transformers (`LocalEmbeddings`), or ONNX
Runtime with the `tokenizers` library (`OnnxEmbeddings`), which never imports PyTorch: a process
that only answers questions starts in a fraction of the time. Its model batches are sorted by
length over all the texts of a call (less padding the more texts) and pooled one batch at a time,
so a call's memory does not grow with its size and ingest can hand it thousands of passages.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.core.vectors import unit

Spans = Sequence[tuple[int, int]]
Run = tuple[np.ndarray, list[tuple[int, int]]]  # one text's token embeddings and their character offsets


class LocalEmbeddings(Embeddings):
    """A sentence-transformers model on the CPU behind LangChain's `Embeddings` (unit vectors)."""

    def __init__(self, model_path: str, batch_size: int = 64, **model_kwargs) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(model_path, device="cpu", **model_kwargs)
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, one row per text (batched by length inside sentence-transformers)."""
        if not texts:
            return np.zeros((0, self.model.get_sentence_embedding_dimension() or 0), np.float32)
        vectors = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True)
        return unit(np.asarray(vectors, dtype=np.float32))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()

    def embed_passages(self, texts: list[str], spans: Sequence[Spans]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors, and for each passage one vector per character span (its sentences).

        A sentence cut off by the model's token limit is embedded on its own instead.
        """
        if not texts:
            return self.encode([]), []
        outputs = self.model.encode(texts, batch_size=self.batch_size, output_value=None)
        offsets = self.model.tokenizer(
            texts, return_offsets_mapping=True, truncation=True, max_length=self.model.max_seq_length
        )["offset_mapping"]
        passages = unit(np.stack([np.asarray(o["sentence_embedding"], np.float32) for o in outputs]))
        runs = [
            (np.asarray(out["token_embeddings"], np.float32)[: len(offs)], offs)  # drop padding
            for out, offs in zip(outputs, offsets)
        ]
        return passages, self._sentence_vectors(texts, spans, runs)

    def _sentence_vectors(
        self, texts: list[str], spans: Sequence[Spans], runs: list[Run]
    ) -> list[np.ndarray]:
        """Mean of the contextual embeddings of the tokens inside each span ("late chunking"): one
        product per passage of a spans-by-tokens membership matrix with its token embeddings."""
        sentences, missing = [], []
        for i, ((tokens, offs), text_spans) in enumerate(zip(runs, spans)):
            starts, ends = np.array(offs, np.int64).reshape(-1, 2).T
            bounds = np.array(text_spans, np.int64).reshape(-1, 2)
            real = ends > starts  # [CLS], [SEP] and padding have empty offsets
            inside = real & (ends > bounds[:, :1]) & (starts < bounds[:, 1:])
            counts = inside.sum(axis=1)
            sentences.append((inside.astype(np.float32) @ tokens) / np.maximum(counts, 1)[:, None])
            missing += [(i, j, texts[i][s:e]) for j, (s, e) in enumerate(text_spans) if not counts[j]]
        if missing:
            for (i, j, _), vector in zip(missing, self.encode([m[2] for m in missing])):
                sentences[i][j] = vector
        return [unit(rows) for rows in sentences]


class OnnxEmbeddings(LocalEmbeddings):
    """The same model exported to ONNX (`bot.core.onnx_export`), run by ONNX Runtime without PyTorch.

    Mean pooling over the attention mask and unit length, as sentence-transformers does, so fp32
    vectors match `LocalEmbeddings` to within rounding.
    """

    def __init__(self, folder: Path, file_name: str, batch_size: int = 64, max_length: int = 256) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            str(folder / file_name), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.batch_size = batch_size

    def _batches(self, texts: list[str]) -> Iterator[tuple[list[int], list[Run]]]:
        """Model batches of texts sorted by length over all of `texts`, so short texts are not
        padded to long ones, one at a time: the batch's places in `texts` and, per text, its
        tokens' contextual embeddings and their character offsets. A caller pools a batch and lets
        it go, so memory stays flat however many texts there are (keeping every batch's token
        embeddings took gigabytes at 10k passages)."""
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            places = order[start : start + self.batch_size]
            batch = [encodings[i] for i in places]
            width = max(len(e.ids) for e in batch)
            ids = np.zeros((len(batch), width), np.int64)
            mask = np.zeros_like(ids)
            for row, e in enumerate(batch):
                ids[row, : len(e.ids)], mask[row, : len(e.ids)] = e.ids, 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            (hidden,) = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})
            yield places, [(hidden[row, : len(e.ids)], e.offsets) for row, e in enumerate(batch)]

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), np.float32)
        places, pooled = [], []
        for batch, runs in self._batches(texts):
            places += batch
            pooled.append(self._pooled(runs))
        return _in_order(places, np.concatenate(pooled))

    def embed_passages(self, texts: list[str], spans: Sequence[Spans]) -> tuple[np.ndarray, list[np.ndarray]]:
        if not texts:
            return self.encode([]), []
        places, pooled, sentences = [], [], []
        for batch, runs in self._batches(texts):
            places += batch
            pooled.append(self._pooled(runs))
            sentences += self._sentence_vectors([texts[i] for i in batch], [spans[i] for i in batch], runs)
        return _in_order(places, np.concatenate(pooled)), [sentences[k] for k in np.argsort(places)]

    @staticmethod
    def _pooled(runs: list[Run]) -> np.ndarray:
        """Mean pooling over each text's tokens, unit length: sentence-transformers' own output."""
        return unit(np.stack([tokens.mean(axis=0) for tokens, _ in runs]).astype(np.float32))


def _in_order(places: list[int], rows: np.ndarray) -> np.ndarray:
    """Rows computed in batch order (`rows[k]` belongs to text `places[k]`), back in text order."""
    ordered = np.empty_like(rows)
    ordered[places] = rows
    return ordered
