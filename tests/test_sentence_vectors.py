"""Sentence vectors computed at ingest (late chunking) and stored beside each chunk."""

from __future__ import annotations

import numpy as np

from bot.core.sentences import sentence_spans
from bot.core.store import Chunk
from bot.core.vectors import pack, unpack
from ingest.pipeline import ingest_document

PASSAGE = (
    "Norwalk police use license plate readers made by Vigilant Solutions. "
    "The city keeps plate data for one year. "
    "Residents can ask for the records through a public-records request."
)


def test_passage_vectors_are_the_models_own(embeddings):
    passages, _ = embeddings.embed_passages([PASSAGE], [sentence_spans(PASSAGE)])
    alone = np.asarray(embeddings.embed_documents([PASSAGE])[0])
    assert float(passages[0] @ alone) > 0.9999


def test_sentence_vectors_point_a_question_at_the_sentence_that_answers_it(embeddings):
    spans = sentence_spans(PASSAGE)
    assert len(spans) == 3
    _, (vectors,) = embeddings.embed_passages([PASSAGE], [spans])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    questions = [
        "Who makes Norwalk's plate readers?",
        "How long is plate data kept?",
        "How do I get the records?",
    ]
    best = [int(np.argmax(vectors @ np.asarray(embeddings.embed_query(q)))) for q in questions]
    assert best == [0, 1, 2]


def test_a_sentence_past_the_token_limit_is_embedded_on_its_own(embeddings):
    long_text = "Filler words about nothing in particular. " * 80 + "Drones fly over Westport."
    spans = sentence_spans(long_text)
    _, (vectors,) = embeddings.embed_passages([long_text], [spans])
    last = np.asarray(embeddings.embed_documents(["Drones fly over Westport."])[0])
    assert float(vectors[-1] @ last) > 0.999


def test_pack_round_trip_keeps_the_ranking(embeddings):
    spans = sentence_spans(PASSAGE)
    _, (vectors,) = embeddings.embed_passages([PASSAGE], [spans])
    got_spans, got = unpack(pack(spans, vectors))
    assert got_spans == spans
    question = np.asarray(embeddings.embed_query("How long is plate data kept?"))
    assert np.argsort(got @ question).tolist() == np.argsort(vectors @ question).tolist()
    assert np.abs(got @ question - vectors @ question).max() < 0.02


def test_ingest_stores_sentences_and_ignores_another_versions(make_store):
    store = make_store()
    result = ingest_document(store, "norwalk.md", f"---\ntitle: Norwalk\n---\n{PASSAGE}\n".encode())
    assert result.status == "added"
    (chunk,) = list(store.iter_chunks())
    stored = store.sentence_vectors([chunk])
    spans, vectors = stored[chunk.id]
    assert [chunk.text[s:e] for s, e in spans] == [chunk.text[s:e] for s, e in sentence_spans(chunk.text)]
    assert vectors.shape == (3, 384)
    other_version = Chunk(chunk.id, chunk.text, {**chunk.metadata, "content_hash": "not-this-one"})
    assert store.sentence_vectors([other_version]) == {}


def test_deleting_a_document_deletes_its_sentences(make_store):
    from ingest.pipeline import delete_document

    store = make_store()
    ingest_document(store, "norwalk.md", f"---\ntitle: Norwalk\n---\n{PASSAGE}\n".encode())
    assert store._sentences.count() == 1
    delete_document(store, "norwalk")
    assert store._sentences.count() == 0


def test_the_fingerprint_changes_with_every_registry_change(make_store):
    from ingest.pipeline import delete_document

    store = make_store()
    seen = {store.fingerprint()}
    ingest_document(store, "norwalk.md", f"---\ntitle: Norwalk\n---\n{PASSAGE}\n".encode())
    seen.add(store.fingerprint())
    ingest_document(store, "norwalk.md", f"---\ntitle: Norwalk\n---\n{PASSAGE} More.\n".encode())
    seen.add(store.fingerprint())
    delete_document(store, "norwalk")
    seen.add(store.fingerprint())
    assert len(seen) == 4


def test_sentences_of_wrapped_pdf_text_are_whole():
    text = (
        "427.5   DATA COLLECTION AND RETENTION\n"
        "ALPR data not related to an active criminal investigation must be destroyed no later than 60 days\n"
        "from the date of collection with the following exceptions (Minn. Stat. § 13.824):\n"
        "(a) Exculpatory evidence - Data must be retained until a criminal matter is resolved.\n"
        "(b) Address Confidentiality Program - Data must be destroyed upon request."
    )
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences == [
        "427.5   DATA COLLECTION AND RETENTION",
        text.splitlines()[1] + "\n" + text.splitlines()[2],  # one sentence, not split at "(Minn."
        text.splitlines()[3],
        text.splitlines()[4],
    ]


def test_an_invisible_character_does_not_split_a_sentence():
    # the Atlas of Surveillance writes a zero-width space before agency names; pysbd split
    # "The \u200bSt. Paul Police Department ..." after "St." and the record was quoted as "Paul Police ..."
    text = (
        "The \u200bSt. Paul Police Department disclosed that it uses automated license plate readers. It did."
    )

    assert [text[s:e] for s, e in sentence_spans(text)] == [text[: text.index(" It")], "It did."]
