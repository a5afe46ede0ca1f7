"""`plainsight` command line: ingest, manage documents, search and ask.

Every command's `--json` output is a stable schema documented in the README, because other tools
and the tests read it. Human output is short; a user's mistake is one line, never a traceback.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

from bot.core.settings import SettingsError, get_settings
from bot.core.store import Store, StoreError
from bot.filters import Filters
from bot.retrieve import HybridIndex, search_results

app = typer.Typer(help="Plainsight: cited answers about local police surveillance.", no_args_is_help=True)
docs_app = typer.Typer(help="List and delete indexed documents.", no_args_is_help=True)
app.add_typer(docs_app, name="docs")
console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@app.callback()
def check_settings() -> None:
    """Stop before any work when a PLAINSIGHT_* value is out of bounds, saying which one."""
    try:
        get_settings()
    except SettingsError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


@cache
def open_store() -> Store:
    try:
        return Store(get_settings())
    except StoreError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def emit(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files, folders (recursive) or http(s) addresses.")],
    json_out: JsonOpt = False,
) -> None:
    """Add or update documents; unchanged files are skipped, bad files reported. An http(s)
    address is fetched (public addresses only) and named after the address."""
    import logging

    from ingest.pipeline import collect_files, ingest_paths
    from ingest.web import ingest_url

    store = open_store()
    urls = [p for p in paths if re.match(r"(?i)^https?://", p)]
    paths = [Path(p) for p in paths if p not in urls]
    total = len(collect_files(paths)) + len(urls)
    if json_out:  # the report carries each file's warnings; stderr stays quiet
        logging.getLogger("plainsight.ingest").setLevel(logging.ERROR)
    with Progress(console=console, transient=True, disable=json_out or not console.is_terminal) as bar:
        task = bar.add_task("Ingesting", total=total)
        ocr_tasks: dict[str, object] = {}

        def ocr_progress(path: str, done: int, pages: int) -> None:
            if path not in ocr_tasks:
                ocr_tasks[path] = bar.add_task(f"OCR {Path(path).name}", total=pages)
            bar.update(ocr_tasks[path], completed=done, visible=done < pages)

        try:
            with store.writing():  # the whole run holds the embedded store: one writer at a time
                report = ingest_paths(
                    store, paths, on_file=lambda r: bar.advance(task), on_progress=ocr_progress
                )
                for url in urls:
                    report.results.append(ingest_url(store, url, {}))
                    bar.advance(task)
        except StoreError as exc:  # another process holds the store: who, and what to do
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
    if json_out:
        emit(report.to_json())
    else:
        summary = report.to_json()
        typer.echo(", ".join(f"{summary[s]} {s}" for s in ("added", "updated", "unchanged", "failed")))
        for r in report.results:
            if r.status == "failed":
                typer.echo(f"  failed: {r.path}: {r.reason}")
        for skipped in report.skipped:
            typer.echo(f"  skipped: {skipped.path}: {skipped.reason}")
    if report.all_failed:
        raise typer.Exit(1)


@docs_app.command("list")
def docs_list(json_out: JsonOpt = False) -> None:
    """Every indexed document."""
    records = open_store().documents()
    if json_out:
        emit({"documents": [asdict(r) for r in records]})
        return
    for r in records:
        ocr = f"\tOCR'd ({r.ocr_confidence:.0f}% confidence)" if r.ocr and r.ocr_confidence else ""
        typer.echo(f"{r.doc_id}\t{r.chunks} chunks\t{r.doc_type}\t{r.jurisdiction}\t{r.title}{ocr}")
    typer.echo(f"{len(records)} documents")


@docs_app.command("delete")
def docs_delete(doc_id: str) -> None:
    """Remove a document and all of its chunks."""
    from ingest.pipeline import delete_document

    try:
        deleted = delete_document(open_store(), doc_id)
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not deleted:
        typer.echo(f"no document '{doc_id}'", err=True)
        raise typer.Exit(1)
    typer.echo(f"deleted {doc_id}")


@app.command()
def search(
    question: str,
    k: Annotated[int, typer.Option("-k", help="How many passages.")] = 6,
    town: Annotated[str | None, typer.Option(help="Only this jurisdiction.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """The top passages for a question, with scores and sources."""
    filters = Filters(jurisdictions=(town,) if town else ())
    hits = HybridIndex(open_store()).search(question, k, filters)
    results = search_results(hits)
    if json_out:
        emit({"query": question, "results": results})
        return
    for r in results:
        page = f" p.{r['page']}" if r["page"] else ""
        typer.echo(f"[{r['rank']}] {r['similarity']:.2f} {r['title']}{page} {r['source_url']}")
        typer.echo("    " + r["text"][:300].replace("\n", " "))


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes (more than one needs a Chroma server).")] = 1,
) -> None:
    """Start the HTTP API (docs at /docs) and the embeddable widget (/widget.js)."""
    from bot.interfaces.api import serve as run_api

    try:
        run_api(get_settings(), host, port, workers)
    except StoreError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def main() -> None:
    app()


@cache
def open_chain():
    from bot.chain import AnswerChain

    return AnswerChain(get_settings(), open_store())


@app.command()
def ask(
    question: str,
    town: Annotated[str | None, typer.Option(help="Prefer this town's documents (and its state's).")] = None,
    explain: Annotated[bool, typer.Option(help="Show the retrieval trace.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """A short answer with numbered citations, or an honest refusal."""
    from bot.chain import Ask
    from bot.filters import town_filter

    chain = open_chain()
    filters = town_filter(town, chain.index.jurisdictions()) if town else Filters()
    answer = chain.invoke(Ask(question, filters=filters, explain=explain))
    if json_out:
        emit(answer.to_dict(explain=explain))
        return
    typer.echo(f"({answer.status_text})")
    typer.echo(answer.text)
    for side in answer.sides:
        typer.echo(f"  side: {side.label} ({side.kind}) {' '.join(f'[{n}]' for n in side.citations)}")
    for c in answer.citations:
        where = ", ".join(x for x in (c.publisher, c.published, f"p. {c.page}" if c.page else "") if x)
        typer.echo(f"[{c.n}] {c.title} ({where}) — {c.kind}")
        if c.source_url:
            typer.echo(f"    {c.source_url}")
    for step in answer.trace:
        typer.echo(f"  trace: {step}")


@app.command("eval")
def evaluate(
    file: Annotated[Path, typer.Argument(help="JSONL question set.")],
    json_out: JsonOpt = False,
) -> None:
    """Score retrieval, answers, refusals, citations and latency on a question set."""
    from bot.evaluate import load_cases, run

    result = run(open_chain(), load_cases(file))
    if json_out:
        emit(result)
        return
    for row in result["cases"]:
        ok = (row["refused"] == row["should_refuse"]) and row["facts_found"] == row["facts_expected"]
        if not ok:
            typer.echo(
                f"  miss {row['id']} [{row['category']}] {row['question']} -> rank={row['rank']} "
                f"refused={row['refused']} facts={row['facts_found']}/{row['facts_expected']}"
            )
    groups = {"all": result["metrics"], **result["by_split"], **result["by_category"]}
    keys = list(dict.fromkeys(k for m in groups.values() for k in m))
    typer.echo(f"{'':>22}  " + "  ".join(f"{name[:12]:>12}" for name in groups))
    for key in keys:
        cells = (f"{m[key]:>12}" if key in m else f"{'':>12}" for m in groups.values())
        typer.echo(f"{key:>22}  " + "  ".join(cells))


@app.command()
def calibrate(
    sets: Annotated[
        list[str],
        typer.Argument(help="QUESTIONS.jsonl=DATA_DIR: a question set and the store it is asked of."),
    ],
    out: Annotated[Path, typer.Option(help="Where to write the models.")] = Path("bot/answerability.json"),
) -> None:
    """Fit the unit ranker and the answerability model on the `tune` half of question sets."""
    from bot.answerability import Models
    from bot.calibrate import calibrate as fit
    from bot.chain import AnswerChain
    from bot.evaluate import load_cases

    pairs = []
    for spec in sets:
        questions, _, data_dir = spec.partition("=")
        settings = get_settings().model_copy(update={"data_dir": Path(data_dir)} if data_dir else {})
        pairs.append((AnswerChain(settings, models=Models.unfitted()), load_cases(Path(questions))))
    typer.echo(json.dumps(fit(pairs, out)["fitted_on"]))
