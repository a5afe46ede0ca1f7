"""The staff page: add files or a web page; list, download, replace and delete documents.

Only shown after logging in with PLAINSIGHT_STAFF_PASSWORD (disabled, with an explanation, when it
is unset). Changes go through the chain's own store, so residents' next question sees them.
"""

from __future__ import annotations

import mimetypes
from typing import Any

import streamlit as st

from bot.core.safe_text import escape_markdown
from bot.core.settings import get_settings
from bot.core.store import DocRecord, Store, StoreError
from bot.core.vocabulary import DOC_TYPES, SOURCE_KINDS
from bot.interfaces.resources import answer_chain, login_throttle, write_lock
from bot.interfaces.sources import indexed_when, kind_label
from bot.interfaces.staff import (
    attempt_login,
    form_metadata,
    ingest_uploads,
    supported_extensions,
)
from ingest.pipeline import FileResult, delete_document
from ingest.web import ingest_url

DOC_TYPE_CHOICES = ["", *sorted(DOC_TYPES)]
KIND_CHOICES = ["", *SOURCE_KINDS]
STATUS_WORDS = {"added": "added", "updated": "updated", "unchanged": "unchanged (already indexed)"}


def metadata_fields(
    prefix: str, defaults: dict[str, str] | None = None, with_id: bool = True, with_source: bool = True
) -> dict:
    """The foundation's metadata fields as labelled inputs; blanks mean "from the document"."""
    d = defaults or {}
    values: dict[str, str] = {}
    if with_id:
        values["doc_id"] = st.text_input(
            "Document ID (optional)",
            key=f"{prefix}-doc_id",
            help="A stable slug such as norwalk-alpr-policy. Empty: made from the file name.",
        )
    values["title"] = st.text_input("Title (optional)", d.get("title", ""), key=f"{prefix}-title")
    if with_source:
        values["source_url"] = st.text_input(
            "Source URL (optional)", d.get("source_url", ""), key=f"{prefix}-source_url"
        )
    values["publisher"] = st.text_input("Publisher", d.get("publisher", ""), key=f"{prefix}-publisher")
    values["published"] = st.text_input(
        "Published (YYYY-MM-DD)", d.get("published", ""), key=f"{prefix}-published"
    )
    values["jurisdiction"] = st.text_input(
        "Jurisdiction",
        d.get("jurisdiction", ""),
        key=f"{prefix}-jurisdiction",
        help='A town "Name, ST" (e.g. "Norwalk, CT"), a state, or "United States".',
    )
    doc_type = d.get("doc_type", "")
    values["doc_type"] = st.selectbox(
        "Document type",
        DOC_TYPE_CHOICES,
        index=DOC_TYPE_CHOICES.index(doc_type) if doc_type in DOC_TYPE_CHOICES else 0,
        format_func=lambda t: t or "(from the document, else “other”)",
        key=f"{prefix}-doc_type",
    )
    kind = d.get("source_kind", "")
    values["source_kind"] = st.selectbox(
        "Kind of source",
        KIND_CHOICES,
        index=KIND_CHOICES.index(kind) if kind in KIND_CHOICES else 0,
        format_func=lambda k: kind_label(k) if k else "(from the type and publisher)",
        key=f"{prefix}-source_kind",
        help="Shown on every citation of this document, so residents know who is speaking.",
    )
    values["topics"] = st.text_input("Topics (comma-separated)", key=f"{prefix}-topics")
    values["language"] = st.text_input("Language", "en", key=f"{prefix}-language")
    return values


def show_results(results: list[FileResult]) -> None:
    """One line per file; every failure with its reason."""
    for r in results:
        name = escape_markdown(r.path)
        if r.status == "failed":
            st.error(f"**{name}** — failed: {escape_markdown(r.reason)}", icon=":material/error:")
        else:
            passages = f"{r.chunks} passage{'' if r.chunks == 1 else 's'}"
            where = f" as {escape_markdown(r.doc_id)} ({passages})" if r.doc_id else ""
            st.success(f"**{name}** — {STATUS_WORDS.get(r.status, r.status)}{where}", icon=":material/check:")


def remember(results: list[FileResult], note: str = "") -> None:
    """Keep results for the next run (after `st.rerun`, so the document list is fresh)."""
    st.session_state["staff_results"] = (note, results)


def form_prefix(name: str) -> str:
    """Widget-key prefix of a form. Forms keep what was typed when something needs fixing; after a
    form's work is done `reset_form` gives its widgets new keys, which empties them."""
    return f"{name}-{st.session_state.get(f'generation-{name}', 0)}"


def reset_form(name: str) -> None:
    st.session_state[f"generation-{name}"] = st.session_state.get(f"generation-{name}", 0) + 1


def login(expected: str) -> None:
    st.subheader("Log in", anchor=False)
    with st.form("login"):
        given = st.text_input("Staff password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        ok, message = attempt_login(given, expected, login_throttle())
        if ok:
            st.session_state["staff"] = True
            st.rerun()
        st.error(escape_markdown(message), icon=":material/lock:")


def add_files_tab() -> None:
    prefix = form_prefix("upload")
    with st.form("upload"):
        files = st.file_uploader(
            "Files to add",
            type=supported_extensions(),
            accept_multiple_files=True,
            key=f"{prefix}-files",
            help="PDF (scanned too), Word, HTML, Markdown, text, CSV, JSON, or a PNG, JPEG or TIFF "
            "image (read by OCR). The fields below apply to every file; "
            "Markdown front matter fills what you leave empty.",
        )
        values = metadata_fields(prefix)
        replace = st.checkbox("Replace a document that already has this document ID", key=f"{prefix}-replace")
        submitted = st.form_submit_button("Add to documents", type="primary")
    meta = checked_metadata(values, bool(files), "Choose at least one file first.") if submitted else None
    if meta is not None:
        with write_lock(), st.status(f"Indexing {len(files)} file(s)…") as status:
            results = ingest_uploads(
                answer_chain().store,
                ((f.name, f.getvalue()) for f in files),
                meta,
                replace=replace,
                on_file=lambda r: status.write(escape_markdown(f"{r.path}: {r.status}")),
            )
        remember(results)
        reset_form("upload")
        st.rerun()


def checked_metadata(values: dict[str, Any], given: bool, missing: str) -> dict[str, Any] | None:
    """The form's metadata, or None after telling staff what is missing or malformed."""
    if not given:
        st.warning(missing)
        return None
    try:
        return form_metadata(values)
    except ValueError as exc:
        st.error(escape_markdown(str(exc)))
        return None


def add_url_tab() -> None:
    prefix = form_prefix("url")
    with st.form("url"):
        url = st.text_input(
            "Web address of the document",
            placeholder="https://www.example.gov/police/alpr-policy.pdf",
            key=f"{prefix}-url",
            help="An HTML page or a PDF; the address becomes the document's source URL.",
        )
        values = metadata_fields(prefix, with_source=False)
        replace = st.checkbox("Replace a document that already has this document ID", key=f"{prefix}-replace")
        submitted = st.form_submit_button("Fetch and add", type="primary")
    meta = checked_metadata(values, bool(url.strip()), "Enter a web address first.") if submitted else None
    if meta is not None:
        with write_lock(), st.spinner("Fetching and indexing…"):
            result = ingest_url(answer_chain().store, url, meta, replace=replace)
        remember([result])
        if result.status != "failed":
            reset_form("url")
        st.rerun()


def ocr_label(record) -> str:  # noqa: ANN001 - a DocRecord
    """ "yes (93%)" for a document whose text was (partly) recognised by OCR, else empty."""
    if not record.ocr:
        return ""
    return f"yes ({record.ocr_confidence:.0f}%)" if record.ocr_confidence is not None else "yes"


def original_file(store: Store, record: DocRecord) -> None:
    """The exact file the document was read from, to download and check against its SHA-256."""
    st.subheader("The stored file", anchor=False)
    kept = store.originals.path(record.file_sha256)  # None when not kept (or indexed before)
    if kept is None:
        st.caption("No file is kept for this document: it was indexed before files were kept.")
        return
    name = record.source or kept.name
    st.download_button(
        f"Download {escape_markdown(name)}",
        data=kept.read_bytes,  # read when clicked, not on every run of the page
        file_name=name,
        mime=mimetypes.guess_type(name)[0] or "application/octet-stream",
        icon=":material/download:",
        on_click="ignore",
    )
    st.caption(f"SHA-256 {record.file_sha256} · indexed {indexed_when(record.indexed_at)}")


def documents_tab() -> None:
    store = answer_chain().store
    records = store.documents()
    st.markdown(f"**{len(records)} documents** are used to answer residents.")
    if not records:
        return
    st.dataframe(
        [
            {
                "Title": r.title,
                "Type": r.doc_type,
                "Jurisdiction": r.jurisdiction,
                "Passages": r.chunks,
                "OCR'd": ocr_label(r),
                "Indexed (UTC)": r.indexed_at.replace("T", " ")[:16],
                "Document ID": r.doc_id,
            }
            for r in records
        ],
        hide_index=True,
        column_config={
            "Title": st.column_config.TextColumn(width=300),
            "Type": st.column_config.TextColumn(width=85),
            "Jurisdiction": st.column_config.TextColumn(width=115),
            "Passages": st.column_config.NumberColumn(width=75),
            "OCR'd": st.column_config.TextColumn(
                width=80, help="Text recognised from scanned pages or images, with Tesseract's confidence"
            ),
            "Indexed (UTC)": st.column_config.TextColumn(width=125),
        },
    )
    by_id = {r.doc_id: r for r in records}
    doc_id = st.selectbox(
        "Document to change",
        list(by_id),
        index=None,
        placeholder="Choose a document to delete or replace",
        format_func=lambda i: f"{by_id[i].title} ({i})",
        key="chosen-doc",
    )
    if doc_id is None:
        return
    record = by_id[doc_id]
    original_file(store, record)

    st.subheader("Delete", anchor=False)
    with st.form("delete", clear_on_submit=True):
        sure = st.checkbox(f"Yes, remove “{escape_markdown(record.title)}” ({doc_id}) from answers")
        if st.form_submit_button("Delete document"):
            if not sure:
                st.warning("Tick the box to confirm.")
            else:
                try:
                    with write_lock():
                        deleted = delete_document(store, doc_id)
                except StoreError as exc:  # another process holds the store: say who, try later
                    st.error(str(exc))
                else:
                    remember([], f"Deleted {doc_id}." if deleted else f"{doc_id} was already gone.")
                    st.rerun()

    st.subheader("Replace with a new version", anchor=False)
    prefix = form_prefix(f"replace-{doc_id}")
    with st.form(f"replace-{doc_id}"):
        new_file = st.file_uploader("Replacement file", type=supported_extensions(), key=f"{prefix}-file")
        values = metadata_fields(prefix, record.__dict__, with_id=False)
        if st.form_submit_button("Replace document", type="primary"):
            if new_file is None:
                st.warning("Choose the replacement file first.")
                return
            try:
                meta = form_metadata({**values, "doc_id": doc_id})
            except ValueError as exc:
                st.error(escape_markdown(str(exc)))
                return
            with write_lock(), st.spinner("Indexing…"):
                results = ingest_uploads(store, [(new_file.name, new_file.getvalue())], meta, replace=True)
            remember(results)
            reset_form(f"replace-{doc_id}")
            st.rerun()


st.title("Staff: manage documents")
expected = get_settings().staff_password
password = expected.get_secret_value() if expected else ""
if not password:
    st.info(
        "Staff tools are turned off because no staff password is configured. To turn them on, set "
        "`PLAINSIGHT_STAFF_PASSWORD` in the server's environment (or its `.env` file) and restart "
        "the app. Until then documents can be managed with `plainsight ingest` and "
        "`plainsight docs` on the server.",
        icon=":material/lock:",
    )
    st.stop()

if not st.session_state.get("staff"):
    login(password)
    st.stop()

if st.button("Log out", icon=":material/logout:"):
    st.session_state.pop("staff", None)
    st.rerun()

with st.container():  # always present, so the tabs below keep their place and selected tab
    if flash := st.session_state.pop("staff_results", None):
        note, results = flash
        if note:
            st.success(escape_markdown(note), icon=":material/check:")
        show_results(results)

add, fetch, docs = st.tabs(["Add files", "Add a web page", "Documents"], key="staff-tab")
with add:
    st.subheader("Add files", anchor=False)
    add_files_tab()
with fetch:
    st.subheader("Add a web page", anchor=False)
    add_url_tab()
with docs:
    st.subheader("Documents", anchor=False)
    documents_tab()
