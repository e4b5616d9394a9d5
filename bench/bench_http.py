"""HTTP bench: sealed-bid submissions per second and latency, 32 concurrent clients.

Runs uvicorn (one worker, SQLite in WAL mode, loopback only) in a subprocess and drives
it with a small raw HTTP/1.1 keep-alive client on asyncio, so the load generator costs
little next to the server. Two phases in the same run against the same server:

1. baseline: ``GET /v1/health`` (a trivial FastAPI endpoint, no auth, no database);
2. bids: ``PUT /v1/rounds/{id}/bid`` (auth lookup, round check, upsert, commit; bids that
   arrive together share one transaction, ``market.api.bid_writer``), each
   client a different annotator replacing its own bid with a fresh random ask.

Figures are printed as ratios to the baseline. Targets (issue 18, measured against the
baseline of the same run, since the machine's load moves both): bids at least 0.5x
health's throughput, and a bid's p99 at most 2x health's. Loops are bounded by request
count and by time.

    python -m bench http           # via the bench runner (writes bench/results.md)
    python bench/bench_http.py     # just this bench
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    from bench.common import Figure, show
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.common import Figure, show

HOST = "127.0.0.1"
CLIENTS = 32
PHASE_SECONDS = 5.0
MAX_REQUESTS = 50_000
WARMUP_REQUESTS = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _bootstrap(db_url: str, n_annotators: int) -> tuple[int, list[str]]:
    """Create a campaign with an open round and one annotator per client (directly in the DB)."""
    from market import accounts, campaign, db
    from market import round as rounds
    from market.tables import Item

    engine = db.make_engine(db_url)
    db.init_db(engine)
    with db.session_scope(engine) as s:
        req, _ = accounts.create_account(s, "bench-requester", "requester")
        c = campaign.create_campaign(s, req, name="bench", budget_cents=1_000_000, max_price_cents=100,
                                     rule="second_price", round_size=100, round_duration_s=3600)
        s.add_all([Item(campaign_id=c.id, position=i, prompt=f"p{i}", completion_a="a", completion_b="b")
                   for i in range(100)])
        s.flush()
        r = rounds.open_round(s, req, c.id, duration_s=3600)
        tokens = [accounts.create_account(s, f"bench-annotator-{i}", "annotator")[1] for i in range(n_annotators)]
        s.commit()
        round_id = r.id
    engine.dispose()
    return round_id, tokens


def _start_server(db_url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": db_url, "PREFMARKET_SWEEP_S": "0"}
    cmd = [sys.executable, "-m", "uvicorn", "app.cli:create_app_from_env", "--factory", "--host", HOST,
           "--port", str(port), "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(cmd, env=env, cwd=str(Path(__file__).resolve().parent.parent))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("uvicorn exited during start-up")
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("uvicorn did not start within 30 s")


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return status, body


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()


def _put_bid(round_id: int, token: str, rng: random.Random) -> bytes:
    body = json.dumps({"ask_cents": rng.randint(1, 100), "capacity": rng.randint(1, 3)}).encode()
    return (f"PUT /v1/rounds/{round_id}/bid HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def _phase(port: int, make_request, *, clients: int, seconds: float, max_requests: int) -> dict:
    """Run ``clients`` keep-alive connections until ``seconds`` or ``max_requests``."""
    latencies: list[float] = []
    errors = {"n": 0, "sample": None}
    budget = {"left": max_requests}
    stop_at = time.perf_counter() + seconds

    async def client(i: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        rng = random.Random(i)
        try:
            while budget["left"] > 0 and time.perf_counter() < stop_at:
                budget["left"] -= 1
                req = make_request(i, rng)
                t0 = time.perf_counter()
                writer.write(req)
                status, body = await _read_response(reader)
                latencies.append(time.perf_counter() - t0)
                if status >= 400:
                    errors["n"] += 1
                    errors["sample"] = errors["sample"] or f"{status} {body[:200]!r}"
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000.0
    return {
        "n": len(latencies),
        "rps": len(latencies) / wall,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "errors": errors["n"],
        "error_sample": errors["sample"],
    }


def run(*, clients: int = CLIENTS, seconds: float = PHASE_SECONDS, max_requests: int = MAX_REQUESTS) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        round_id, tokens = _bootstrap(db_url, clients)
        port = _free_port()
        server = _start_server(db_url, port)
        try:
            health = lambda i, rng: _get("/v1/health")  # noqa: E731
            bid = lambda i, rng: _put_bid(round_id, tokens[i], rng)  # noqa: E731
            kw = {"clients": clients}
            asyncio.run(_phase(port, health, seconds=seconds, max_requests=WARMUP_REQUESTS, **kw))
            asyncio.run(_phase(port, bid, seconds=seconds, max_requests=WARMUP_REQUESTS, **kw))
            base = asyncio.run(_phase(port, health, seconds=seconds, max_requests=max_requests, **kw))
            bids = asyncio.run(_phase(port, bid, seconds=seconds, max_requests=max_requests, **kw))
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
    return {"baseline": base, "bids": bids, "clients": clients, "cpus": os.cpu_count()}


def main() -> list[Figure]:
    out = run()
    base, bids = out["baseline"], out["bids"]
    if bids["errors"] or base["errors"]:
        print(f"warning: {bids['errors']} bid errors, {base['errors']} baseline errors; e.g. {bids['error_sample']}")
    figures = [
        Figure("http", f"bid submissions/s ({out['clients']} clients, SQLite)", bids["rps"], "req/s",
               "GET /v1/health", base["rps"], ">= 0.5x", bids["rps"] >= 0.5 * base["rps"]),
        Figure("http", "bid latency p50", bids["p50_ms"], "ms", "GET /v1/health p50", base["p50_ms"], "", None),
        Figure("http", "bid latency p99", bids["p99_ms"], "ms", "GET /v1/health p99", base["p99_ms"], "<= 2x",
               bids["p99_ms"] <= 2 * base["p99_ms"]),
    ]
    show(figures, f"HTTP bench: {bids['n']} bids, {base['n']} baseline requests, {out['cpus']} CPUs")
    return figures


if __name__ == "__main__":
    main()
