"""The README's quickstart, run as written against a live server.

The commands come from README.md itself (the shell and Python blocks of its "Quickstart"
section), so the test fails when the README drifts from the product. Each command runs
as a user would type it, with four test-only changes: the server listens on a free port
instead of 8000 (every ``http://127.0.0.1:8000`` is rewritten to it), ``<NAME_TOKEN>``
stands for the token that ``admin create-account --name name`` printed, the worker loads
the tiny test model instead of the embedded 135M one, and the portal gets its own free
port. The long-running commands (server, worker, bots, portal) run in the background, as
in their own terminals. Where the README says "once the worker has scored the pool" or
"once the labels are in", the test waits for exactly that through the API.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from market.client import MarketClient
from tests.hardening.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
LIVE = "http://127.0.0.1:8000"
BACKGROUND = ("serve", "worker", "bots", "portal")
# what the quickstart must walk through, in this order (a README that drops a step fails)
STEPS = ["serve", "admin create-account", "admin create-account", "export", "campaign create",
         "campaign upload", "worker", "bots", "portal", "campaign open-round", "campaign close-round",
         "campaign status", "campaign export"]

PAIRS = [
    ("Write a short review of a space opera.", "A dazzling, joyful adventure with a wonderful cast.",
     "A dull, tedious mess that wastes its cast."),
    ("Review a courtroom drama in two sentences.", "Gripping and brilliantly acted from start to finish.",
     "Boring, clumsy and painfully slow."),
    ("Give your opinion of a family comedy.", "Warm, funny and delightful for every age.",
     "Awful jokes and a miserable, grating script."),
    ("Describe a horror film you saw.", "A terrific, clever chiller with superb tension.",
     "Terrible, lazy and not scary at all."),
    ("Review a musical biopic.", "Beautiful songs and a moving, excellent lead.",
     "Flat, lifeless and badly edited."),
    ("Write about a heist thriller.", "Slick, thrilling and great fun.",
     "A confusing, stupid plot with weak acting."),
]


def quickstart(text: str) -> tuple[list[str], list[str]]:
    """The quickstart's shell commands (comments dropped) and its Python blocks."""
    section = text.split("\n## Quickstart", 1)[1].split("\n## ", 1)[0]
    shell = re.findall(r"```bash\n(.*?)```", section, re.S)
    commands = [line.split(" #", 1)[0].strip() for block in shell for line in block.splitlines()]
    return [c for c in commands if c and not c.startswith("#")], re.findall(r"```python\n(.*?)```", section, re.S)


def step(argv: list[str]) -> str:
    """A command's name: ``export``, ``serve``, ``admin create-account``, ``campaign open-round``, ..."""
    if argv[0] == "export":
        return "export"
    assert argv[0] == "prefmarket", f"the quickstart runs prefmarket commands, not {argv[0]!r}"
    return " ".join(argv[1:3]) if argv[1] in ("admin", "campaign") else argv[1]


class Shell:
    """Runs the quickstart's commands in one folder and environment, as a user's terminals would."""

    def __init__(self, folder: Path, env: dict[str, str], url: str):
        self.folder, self.env, self.url = folder, env, url
        self.background: list[tuple[subprocess.Popen, object]] = []  # each process and its log file
        self.tokens: dict[str, str] = {}

    def argv(self, command: str) -> list[str]:
        command = command.replace(LIVE, self.url)
        command = re.sub(r"<([A-Z]+)_TOKEN>", lambda m: self.tokens[m.group(1).lower()], command)
        return shlex.split(command)

    def run(self, argv: list[str]) -> str:
        done = subprocess.run([sys.executable, "-m", "app.cli", *argv[1:]], cwd=self.folder, env=self.env,
                              capture_output=True, text=True, timeout=120)
        out = done.stdout + done.stderr
        assert done.returncode == 0, f"{shlex.join(argv)} failed:\n{out}"
        assert "Traceback" not in out, out
        return " ".join(out.split())  # rich wraps long lines

    def start(self, argv: list[str], name: str) -> None:
        log = open(self.folder / f"{name}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", *argv[1:]], cwd=self.folder, env=self.env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.background.append((proc, log))

    def log(self, name: str) -> Callable[[], str]:
        """The tail of a background command's output, read when a wait times out."""
        return lambda: (self.folder / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for proc, log in self.background:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=20)
            log.close()


def wait_for(what: str, check: Callable[[], object], log: Callable[[], str], timeout: float = 60.0) -> None:
    """Poll ``check`` until it holds; on timeout, fail with the tail of the log that explains why."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}\n{log()}")


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def test_the_readme_lists_the_whole_manual_flow():
    commands, python = quickstart(README.read_text())
    assert [step(shlex.split(c)) for c in commands] == STEPS
    assert len(python) == 1 and "MarketClient" in python[0]


def test_the_readme_quickstart_runs_against_a_live_server(tmp_path, database_url):
    from app.demo.run import tiny_model_dir

    commands, (python,) = quickstart(README.read_text())
    tiny = ThreadPoolExecutor(1).submit(tiny_model_dir, tmp_path)  # torch loads while the accounts are made
    (tmp_path / "pairs.jsonl").write_text("".join(
        json.dumps({"prompt": p, "completion_a": a, "completion_b": b}) + "\n" for p, a, b in PAIRS))
    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "DATABASE_URL": database_url, "PREFMARKET_HOME": str(tmp_path / "home"),
           "PREFMARKET_TORCH_THREADS": "1", "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    shell = Shell(tmp_path, env, url)
    outputs: dict[str, str] = {}
    try:
        for command in commands:
            argv = shell.argv(command)
            name = step(argv)
            if name == "export":
                env.update(dict(pair.split("=", 1) for pair in argv[1:]))
                continue
            if name == "serve":
                shell.start(argv + ["--port", url.rsplit(":", 1)[1], "--log-level", "warning"], name)
                wait_for("the server", lambda: answers(f"{url}/v1/health"), shell.log(name))
                continue
            if name == "worker":
                shell.start(argv + ["--model", str(tiny.result()), "--poll", "0.5"], name)
                continue
            if name == "bots":
                shell.start(argv + ["--poll", "0.2"], name)
                continue
            if name == "portal":
                port = free_port()
                shell.start(argv + ["--port", str(port), "--api-url", url], name)
                wait_for("the portal", lambda: answers(f"http://127.0.0.1:{port}/_stcore/health"), shell.log(name))
                continue
            client = MarketClient(url, env.get("PREFMARKET_TOKEN"))
            if name == "campaign open-round":  # "once the worker has scored the pool"
                wait_for("the worker's scores", lambda: all(i["score"] is not None for i in client.list_items(1)),
                         shell.log("worker"))
            if name == "campaign close-round":  # let the annotators bid
                wait_for("the bots' bids", lambda: (client.get_round(1)["n_bids"] or 0) >= 3, shell.log("bots"))
            if name == "campaign status":  # "once the labels are in"
                wait_for("the labels", lambda: client.get_round(1)["state"] == "settled", shell.log("bots"))
            out = shell.run(argv)
            outputs[name] = out
            if name == "admin create-account":
                account = re.search(r"created (\w+) (\w+) \(id (\d+)\)", out)
                assert account, out
                shell.tokens[account[2]] = re.search(r"token \(shown once\): (\S+)", out)[1]
            if name == "campaign close-round":  # the round is settled by the bots' labels: look now
                rnd = client.get_round(1)

        # what each command printed, against what the market holds
        assert set(shell.tokens) == {"root", "alice"}
        assert re.search(r"campaign 1 'reviews' funded with \$5\.00, rule budget_feasible", outputs["campaign create"])
        assert f"imported {len(PAIRS)} items (pair format) into campaign 1" in outputs["campaign upload"]
        assert re.search(r"round 1 open: 4 labels wanted, budget \$[\d.]+, deadline", outputs["campaign open-round"])
        closed = re.search(r"round 1 cleared: (\d+) assignments, clearing price (\d+)c, escrowed \$([\d.]+)",
                           outputs["campaign close-round"])
        assert closed, outputs["campaign close-round"]
        n, price = int(closed[1]), int(closed[2])
        assert 1 <= n <= 4 and 0 < price <= 50 and rnd["n_assignments"] == n
        assert float(closed[3]) * 100 == pytest.approx(n * price)  # one uniform price, all of it escrowed

        summary = client.campaign_summary(1)
        assert summary["labels"] == n and summary["spent_cents"] == n * price and summary["balanced"]
        assert (f"campaign 1 (budget_feasible): spent ${summary['spent_cents'] / 100:,.2f} of $5.00, escrowed $0.00, "
                f"remaining ${summary['remaining_cents'] / 100:,.2f}; {n} labels, {n}/{len(PAIRS)} items done; "
                f"books balanced: True") in outputs["campaign status"]

        rows = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
        exported = [r for r in rows if r["choice"] in ("a", "b")]
        assert f"wrote {len(rows)} labels to labels.jsonl" in outputs["campaign export"]
        assert len(exported) == len(rows) == sum(1 for r in client.export_labels(1))
        by_prompt = {p: {a, b} for p, a, b in PAIRS}
        assert all({r["chosen"], r["rejected"]} == by_prompt[r["prompt"]] for r in rows)

        # the worker trains on the settled round and posts its evaluation; then the Python example
        wait_for("the worker's evaluation", lambda: client.list_evaluations(1), shell.log("worker"), timeout=120)
        done = subprocess.run([sys.executable, "-c", python], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert f"spent {summary['spent_cents']} of 500 cents on {n} labels" in done.stdout
        assert f"round 1: settled, {n} assignments at {price} cents" in done.stdout
        assert f"{len(rows)} labels exported; evaluations so far: 1" in done.stdout
    finally:
        shell.stop()
