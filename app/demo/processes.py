"""The demo's child processes: the market server, the policy worker, the annotator bots, and
the steps that work with the model outside the market (``app.demo.paired``).

Each runs as ``python -m app.cli <command>`` (the same commands a person would type),
with its output in ``<run>/logs/<name>.log``. On Linux each child asks the kernel to
send it SIGTERM if the demo dies, so even a killed demo leaves no server holding the
port; ``stop`` and leaving the ``with`` block end them politely first (SIGTERM, then
SIGKILL after a grace period).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

_PR_SET_PDEATHSIG = 1


class DemoError(RuntimeError):
    """Something the demo cannot go on from; the message says what and where to look."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the demo's own cleanup still stops its children


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str) -> list[str]:
    """The argv of a ``prefmarket`` command run with this interpreter."""
    return [sys.executable, "-m", "app.cli", *args]


class Processes:
    def __init__(self, logs: Path):
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})},
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        log.close()  # the child holds its own copy
        self.running[name] = proc
        return proc

    def check(self, name: str) -> None:
        """Raise ``DemoError`` with the end of its log if ``name`` has exited."""
        proc = self.running.get(name)
        if proc is not None and proc.poll() is not None:
            raise DemoError(f"the {name} process exited with code {proc.returncode}; "
                            f"end of {self.logs / (name + '.log')}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def stop(self, name: str, grace_s: float = 10.0) -> None:
        proc = self.running.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            self.stop(name)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()

    # ------------------------------------------------------------------ the three kinds

    def serve(self, database_url: str, timeout_s: float = 60.0) -> str:
        """Start ``prefmarket serve`` on a free loopback port; return its URL once healthy."""
        port = free_port()
        self.start("server", cli("serve", "--host", "127.0.0.1", "--port", str(port), "--database-url", database_url,
                                 "--sweep-interval", "2", "--log-level", "warning"))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check("server")
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise DemoError(f"the market server did not answer within {timeout_s:.0f} s; see {self.logs / 'server.log'}")

    def bots(self, url: str, admin_token: str, *, size: int, seed: int, roster: Path, judge: str,
             spammers: float, capacity: str) -> None:
        self.start("bots", cli("bots", "--url", url, "--size", str(size), "--seed", str(seed), "--roster", str(roster),
                               "--judge", judge, "--spammers", str(spammers), "--capacity", capacity, "--poll", "0.3"),
                   env={"PREFMARKET_TOKEN": admin_token})

    def worker(self, name: str, url: str, token: str, campaign_id: int, args: list[str], *, cpu_only: bool,
               beside: int = 1) -> None:
        self.start(name, cli("worker", "--url", url, "--campaign", str(campaign_id), *args),
                   env={"PREFMARKET_TOKEN": token} | self._torch_env(cpu_only, beside))

    def model_job(self, name: str, argv: list[str], *, cpu_only: bool, beside: int = 1) -> None:
        """A child process that works with the model and exits (``finished`` says when);
        ``beside``: how many such processes share the cores with it."""
        self.start(name, argv, env=self._torch_env(cpu_only, beside))

    def finished(self, name: str) -> bool:
        """Whether ``name`` has exited with code 0; ``DemoError`` with its log's end if it failed."""
        proc = self.running[name]
        if proc.poll() is None:
            return False
        if proc.returncode:
            self.check(name)
        del self.running[name]
        return True

    @staticmethod
    def _torch_env(cpu_only: bool, beside: int = 1) -> dict[str, str]:
        env = {}
        if cpu_only:
            env["CUDA_VISIBLE_DEVICES"] = ""  # the worker has no device option: hide the GPUs from it
            # One core stays for the server and the bots, the rest is shared out among the
            # ``beside`` model processes that run at once: torch's OpenMP threads spin at
            # every barrier, and one of two threads losing its core made a decode step 14x
            # slower on two shared cores (1.8 s against 0.13 s for a batch of 16). On two cores
            # that is one thread each, and two processes use both cores where one could not.
            cores = os.cpu_count() or 2
            env["PREFMARKET_TORCH_THREADS"] = (os.environ.get("PREFMARKET_TORCH_THREADS")
                                               or str(max(1, (cores - 1) // beside)))
        return env
