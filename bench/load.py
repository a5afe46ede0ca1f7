"""Load on `POST /v1/ask` over loopback: N concurrent clients for D seconds, per store mode.

Run: `.venv/bin/python -m bench.load [--clients 20] [--duration 60] [--store embedded|chroma|both]
[--workers 1] [--writer FOLDER]`. For each store it makes a throwaway store, indexes corpus/ with
`plainsight ingest` (through a `chroma run` server for `chroma`), starts `plainsight serve` with the
rate limit off, warms it up, then runs the clients: each sends questions from
tests/eval/starter.jsonl (with their history) one after another. Prints requests/s, latency
p50/p95/p99, errors (must be 0) and the server's CPU use, and writes bench/results/load.json. Or
`--url` to load a server already running. With `--writer FOLDER`, a `plainsight ingest FOLDER`
runs in another process while the clients ask (a writer beside the readers): errors must stay 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
QUESTIONS = ROOT / "tests" / "eval" / "starter.jsonl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def running(args: list[str], env: dict[str, str], health: str, log: Path):
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until_up(health, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children so far (Linux /proc)."""
    total = 0.0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def load_questions() -> list[dict]:
    cases = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    return [{"question": c["question"], "history": c.get("history") or []} for c in cases]


async def run_load(
    url: str, clients: int, duration: float, questions: list[dict], busy: Callable[[], bool] | None = None
) -> dict:
    """`clients` clients asking for `duration` seconds, and for as long as `busy()` says so."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        deadline = time.perf_counter() + duration

        async def one_client(n: int) -> None:
            i = n * 7
            while time.perf_counter() < deadline or (busy is not None and busy()):
                body = questions[i % len(questions)]
                i += 1
                started = time.perf_counter()
                try:
                    got = await client.post("/v1/ask", json=body)
                    if got.status_code != 200 or "citations" not in got.json():
                        errors[f"HTTP {got.status_code}"] = errors.get(f"HTTP {got.status_code}", 0) + 1
                        continue
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one_client(n) for n in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return (
            round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1) if latencies else 0.0
        )

    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 2),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(1000 * latencies[-1], 1) if latencies else 0.0,
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }


def bench_store(
    kind: str, clients: int, duration: float, workers: int, corpus: Path, writer: Path | None = None
) -> dict:
    """Index the corpus into a fresh store of `kind`, serve it, load it (with `writer` ingested
    by another process meanwhile)."""
    questions = load_questions()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        tmp_path = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLAINSIGHT_")}
        env.update(
            HF_HUB_OFFLINE="1",
            ANONYMIZED_TELEMETRY="False",
            PLAINSIGHT_DATA_DIR=str(tmp_path / "data"),
            PLAINSIGHT_RATE_LIMIT_PER_MINUTE="0",
        )
        if kind == "chroma":
            port = free_port()
            chroma = str(BIN / "chroma") if (BIN / "chroma").exists() else shutil.which("chroma")
            stack.enter_context(
                running(
                    [
                        chroma,
                        "run",
                        "--path",
                        str(tmp_path / "chroma"),
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                    ],
                    env,
                    f"http://127.0.0.1:{port}/api/v2/heartbeat",
                    tmp_path / "chroma.log",
                )
            )
            env.update(PLAINSIGHT_CHROMA_HOST="127.0.0.1", PLAINSIGHT_CHROMA_PORT=str(port))
        done = subprocess.run(
            [str(BIN / "plainsight"), "ingest", str(corpus), "--json"],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        chunks = sum(f["chunks"] for f in json.loads(done.stdout)["files"])
        port = free_port()
        args = [str(BIN / "plainsight"), "serve", "--port", str(port), "--workers", str(workers)]
        server = stack.enter_context(
            running(args, env, f"http://127.0.0.1:{port}/healthz", tmp_path / "api.log")
        )
        url = f"http://127.0.0.1:{port}"
        asyncio.run(run_load(url, clients, min(10.0, duration), questions))  # warm-up: caches, threads
        cpu_before = cpu_seconds(server.pid)
        ingest = None
        if writer:
            started = time.perf_counter()
            ingest = subprocess.Popen(
                [str(BIN / "plainsight"), "ingest", str(writer), "--json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        writing = (lambda: ingest.poll() is None) if ingest is not None else None  # load it all along
        result = asyncio.run(run_load(url, clients, duration, questions, writing))
        result["server_cpu_cores"] = round((cpu_seconds(server.pid) - cpu_before) / result["seconds"], 2)
        if ingest is not None:
            out, err = ingest.communicate()
            report = json.loads(out) if ingest.returncode in (0, 1) and out.strip() else {}
            result["writer"] = {
                "folder": str(writer),
                "exit": ingest.returncode,
                "seconds": round(time.perf_counter() - started, 1),
                "added": report.get("added"),
                "failed": report.get("failed"),
                "error": err.strip().splitlines()[-1]
                if ingest.returncode not in (0, 1) and err.strip()
                else "",
            }
    return {"store": kind, "workers": workers, "chunks": chunks, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load per store (default 60)")
    parser.add_argument("--store", choices=["embedded", "chroma", "both"], default="both")
    parser.add_argument("--workers", type=int, default=1, help="API worker processes (chroma only)")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--url", help="load this running server instead (its rate limit must be off)")
    parser.add_argument("--writer", type=Path, help="a folder `plainsight ingest` adds while the clients ask")
    args = parser.parse_args()

    if args.url:
        results = [
            {
                "store": "external",
                **asyncio.run(run_load(args.url, args.clients, args.duration, load_questions())),
            }
        ]
    else:
        kinds = ["embedded", "chroma"] if args.store == "both" else [args.store]
        results = [
            bench_store(
                k, args.clients, args.duration, args.workers if k == "chroma" else 1, args.corpus, args.writer
            )
            for k in kinds
        ]
    keys = [
        "store",
        "workers",
        "requests",
        "requests_per_s",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "max_ms",
        "errors",
    ]
    keys += ["server_cpu_cores"]
    print("  ".join(f"{k:>14}" for k in keys))
    for r in results:
        print("  ".join(f"{r.get(k, ''):>14}" for k in keys))
        if "writer" in r:
            print(f"  writer beside it: {json.dumps(r['writer'])}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    payload = {"cpus": os.cpu_count(), "results": results}
    (out / "load.json").write_text(json.dumps(payload, indent=2) + "\n")
    if any(r["errors"] or r.get("writer", {}).get("exit", 0) not in (0, None) for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
