"""The OpenAI-compatible judge against a real HTTP server on 127.0.0.1 that speaks chat completions.

The stub is a standard-library server in a thread. It is bounded: it answers at most
``MAX_REQUESTS`` requests and stops by itself after ``IDLE_S`` seconds without one, so a
test that goes wrong cannot leave it running.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from task.judges import JudgeError, OpenAIJudge, make_judge

MAX_REQUESTS = 64
IDLE_S = 5.0
POLL_S = 0.05  # how often the serving loop looks at its stop flag and idle clock


class Stub:
    """A chat-completions endpoint that prefers the response with more "great" in it.

    ``fail_first`` answers that many requests with a status before behaving; ``status``
    answers every request with it; ``key`` requires that bearer token."""

    def __init__(self, *, fail_first: int = 0, status: int | None = None, key: str | None = None,
                 reply: str | None = None):
        self.seen: list[dict] = []
        self.auth: list[str | None] = []
        self.fail_first, self.status, self.key, self.reply = fail_first, status, key, reply
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest's output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.auth.append(self.headers.get("Authorization"))
                stub.seen.append(body)
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if stub.key and self.headers.get("Authorization") != f"Bearer {stub.key}":
                    return self._send(401, {"error": {"message": "invalid api key"}})
                if stub.status or stub.fail_first:
                    stub.fail_first = max(0, stub.fail_first - 1)
                    return self._send(stub.status or 503, {"error": {"message": "busy"}})
                return self._send(200, stub.answer(body))

            def _send(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.timeout = POLL_S
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        served, last = 0, time.monotonic()
        while served < MAX_REQUESTS and not self.stopped.is_set() and time.monotonic() - last < IDLE_S:
            before = len(self.seen)
            self.server.handle_request()  # returns after one request or POLL_S seconds
            if len(self.seen) > before:
                served, last = served + 1, time.monotonic()
        self.server.server_close()

    def answer(self, body: dict) -> dict:
        system, user = body["messages"]
        assert system["role"] == "system" and user["role"] == "user"
        text = user["content"]
        first = text.split("Response A:\n")[1].split("\n\nResponse B:")[0]
        second = text.split("Response B:\n")[1].split("\n\nWhich")[0]
        letter = self.reply or ("A" if first.count("great") >= second.count("great") else "B")
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": letter}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}}

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=IDLE_S + 1)


@pytest.fixture
def stub():
    made = []

    def start(**kw) -> Stub:
        made.append(Stub(**kw))
        return made[-1]

    yield start
    for s in made:
        s.stop()
        assert not s.thread.is_alive()


def test_a_configured_judge_asks_both_orders_over_http(stub, monkeypatch):
    server = stub(key="sk-test")
    monkeypatch.setenv("PREFMARKET_JUDGE_API_KEY", "sk-test")
    judge = make_judge(f"openai:stub-judge@{server.url}")
    out = judge.compare(["Review Up", "Review Heat"], ["a great great film", "dull"], ["a film", "great fun"])
    np.testing.assert_array_equal(out, [1.0, 0.0])
    assert len(server.seen) == 4 and judge.requests == 4 and judge.unparsed == 0
    assert {b["model"] for b in server.seen} == {"stub-judge"} and all(b["temperature"] == 0 for b in server.seen)
    assert set(server.auth) == {"Bearer sk-test"}
    first, swapped = (b["messages"][1]["content"] for b in server.seen[:2])
    assert first.index("a great great film") < first.index("a film")  # asked as given, then swapped
    assert swapped.index("a film") < swapped.index("a great great film")


def test_a_judge_that_always_says_a_gives_ties(stub):
    server = stub(reply="A")
    judge = OpenAIJudge(base_url=server.url, model="m")
    assert judge.compare(["p"], ["great"], ["meh"])[0] == 0.5


def test_a_busy_judge_is_asked_again_then_answers(stub):
    server = stub(fail_first=2)
    judge = OpenAIJudge(base_url=server.url, model="m", retries=2, backoff_s=0.01)
    assert judge.compare(["p"], ["great"], ["meh"])[0] == 1.0
    assert len(server.seen) == 4 and judge.requests == 4


@pytest.mark.parametrize("kw, words", [
    ({"key": "sk-right"}, ["401", "PREFMARKET_JUDGE_API_KEY"]),
    ({"status": 500}, ["500", "3 times"]),
])
def test_a_refusing_judge_is_a_clear_error(stub, monkeypatch, kw, words):
    monkeypatch.delenv("PREFMARKET_JUDGE_API_KEY", raising=False)
    server = stub(**kw)
    judge = OpenAIJudge(base_url=server.url, model="m", retries=2, backoff_s=0.01)
    with pytest.raises(JudgeError) as e:
        judge.compare(["p"], ["x"], ["y"])
    assert all(w in str(e.value) for w in words) and server.url in str(e.value)
    assert isinstance(e.value, ValueError)


def test_a_wrong_path_or_an_unreachable_judge_is_a_clear_error(stub):
    server = stub()
    with pytest.raises(JudgeError, match="404"):
        OpenAIJudge(base_url=server.url.removesuffix("/v1"), model="m").compare(["p"], ["x"], ["y"])
    server.stop()
    with pytest.raises(JudgeError, match="cannot reach"):
        OpenAIJudge(base_url=server.url, model="m", retries=1, backoff_s=0.01, timeout=2).compare(["p"], ["x"], ["y"])
