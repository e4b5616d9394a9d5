"""One campaign driven through its rounds: score, auction, label, accept, DPO, evaluate.

The demo plays the requester. Each round it

1. waits until the pool is scored by the current policy (the worker posts scores; after a
   round it posts the round's ``Evaluation`` only once it has retrained *and* rescored);
2. opens a round, waits until the bots that can afford to bid have bid (or bidding has
   gone quiet), and closes it: the mechanism picks winners and payments, escrow is posted;
3. waits until the bots have labelled what they won (the round settles by itself on the
   last label; a round that overstays the labelling window is settled, releasing the rest);
4. waits for the worker's evaluation of the policy trained on those labels.

A campaign driven without a worker (the demo's vetting phase) skips 1 and 4: its items are
offered unscored, in upload order, and nothing is trained on what it buys.

Everything it knows it reads back from the API, so a resumed demo simply looks at the
campaign's last round and carries on from whatever state it is in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from market.client import MarketClient, MarketError
from app.demo.processes import DemoError, Processes

BID_WINDOW_S = 30.0  # longest wait for bids; bidding normally ends when every affordable bot bid
QUIET_S = 3.0  # ...or when no new bid came for this long
LABEL_WINDOW_S = 120.0  # the campaign's labelling window; the demo settles a round after it
ROUND_DURATION_S = 600.0  # the market's own deadline, a backstop: the demo closes rounds itself
POLL_S = 0.3


@dataclass
class Ui:
    """What the driver tells the person watching: a status line and one line per round."""

    status: Callable[[str], None]
    settled: Callable[[dict], None]  # a round, once settled
    evaluated: Callable[[dict, dict | None], None]  # a round and the evaluation that followed it (None: none will)


class CampaignDriver:
    def __init__(self, req: MarketClient, campaign_id: int, procs: Processes, worker: str | None,
                 bidders_for: Callable[[int], int], ui: Ui, *, eval_timeout_s: float = 3600.0):
        self.req, self.cid, self.procs, self.worker = req, campaign_id, procs, worker
        self.bidders_for = bidders_for  # how many bots can afford a round with this max price
        self.train = worker is not None  # without a worker nothing is scored, trained or evaluated (vetting)
        self.ui = ui
        self.eval_timeout_s = eval_timeout_s
        self.shown: set[int] = set()  # rounds whose evaluation was shown

    def drive(self, max_rounds: int, want_more: Callable[[], bool] = lambda: True) -> None:
        """Run rounds until ``max_rounds`` have settled, ``want_more()`` says stop, or the
        market has no items or budget left for another round."""
        while True:
            rounds = self.rounds()
            if rounds and rounds[-1]["state"] != "settled":
                self._finish(rounds[-1])
                continue
            if rounds:
                self._await_evaluation(rounds[-1])
            if len(rounds) >= max_rounds or not want_more():
                return
            if self.train:
                self._await_scores(first=not rounds)
            try:
                r = self.req.open_round(self.cid, duration_s=ROUND_DURATION_S)
            except MarketError as exc:
                if exc.status == 409:  # no items or no budget left for a round
                    self.ui.status(f"no further round: {exc.detail}")
                    return
                raise
            self._finish(r)

    def rounds(self) -> list[dict]:
        return sorted(self.req.list_rounds(campaign_id=self.cid), key=lambda r: r["id"])

    # ------------------------------------------------------------------ waiting

    def _wait(self, what: str, done: Callable[[], object], timeout_s: float):
        """Poll ``done()`` until it returns something truthy; the processes must stay alive."""
        start = time.monotonic()
        while True:
            for name in ("server", "bots", self.worker):
                if name is not None:
                    self.procs.check(name)
            result = done()
            if result:
                return result
            waited = time.monotonic() - start
            if waited > timeout_s:
                return None
            self.ui.status(f"{what} ({waited:.0f} s)")
            time.sleep(POLL_S)

    def _await_scores(self, first: bool) -> None:
        """Before the first round: until the worker has sampled the pairs and scored them all.

        Scores arrive in one request per 500 items after every pair is written, so "some
        scores, and no new ones since the last look" means the pool is scored."""
        seen = {"n": -1}

        def scored():
            n = sum(1 for it in self.req.list_items(self.cid) if it["score"] is not None and not it["gold_check"])
            settled = n > 0 and n == seen["n"]
            seen["n"] = n
            return settled

        what = "worker: sampling pairs for the pool and scoring them" if first else "worker: scoring the pool"
        if self._wait(what, scored, self.eval_timeout_s) is None:
            raise DemoError(f"the worker scored no items in {self.eval_timeout_s:.0f} s; see "
                            f"{self.procs.logs / (self.worker + '.log')}")

    def _finish(self, r: dict) -> None:
        if r["state"] == "open":
            r = self._auction(r)
        if r["state"] in ("cleared", "labeling"):
            r = self._await_labels(r)
        self.ui.settled(r)

    def _auction(self, r: dict) -> dict:
        expected = self.bidders_for(r["max_price_cents"])
        last = {"n": -1, "at": time.monotonic()}

        def bidding_over():
            n = self.req.get_round(r["id"])["n_bids"] or 0
            if n != last["n"]:
                last.update(n=n, at=time.monotonic())
            return n >= expected or (n > 0 and time.monotonic() - last["at"] > QUIET_S)

        self._wait(f"round {r['id']}: annotators bidding", bidding_over, BID_WINDOW_S)
        try:
            return self.req.close_round(r["id"])
        except MarketError as exc:
            if exc.status != 409:
                raise
            return self.req.get_round(r["id"])  # its deadline closed it already

    def _await_labels(self, r: dict) -> dict:
        def settled():
            now = self.req.get_round(r["id"])
            return now if now["state"] == "settled" else None

        done = self._wait(f"round {r['id']}: {r['n_assignments']} assignments being labelled", settled, LABEL_WINDOW_S)
        if done is None:  # some winners never labelled: release their money
            try:
                done = self.req.settle_round(r["id"])
            except MarketError as exc:
                if exc.status != 409:
                    raise
                done = self.req.get_round(r["id"])
        return done

    def _await_evaluation(self, r: dict) -> None:
        """Wait for the worker's evaluation after this round. None comes when the round bought
        no training data: nothing paid, or only gold checks and ties (the worker trains on the
        export, which leaves both out, so this asks the same question of the same export)."""
        if not self.train or not r["paid_cents"] or not self._bought_data(r):
            if r["id"] not in self.shown:
                self.shown.add(r["id"])
                self.ui.evaluated(r, None)
            return

        def posted():
            return next((e for e in self.req.list_evaluations(self.cid) if e["round_id"] == r["id"]), None)

        ev = posted() or self._wait(f"worker: DPO on round {r['id']}'s labels, rescoring the pool, evaluating",
                                    posted, self.eval_timeout_s)
        if ev is None:
            raise DemoError(f"no evaluation of round {r['id']} after {self.eval_timeout_s:.0f} s; see "
                            f"{self.procs.logs / (self.worker + '.log')}")
        if r["id"] not in self.shown:  # once per round, even when the worker posted it before we looked
            self.shown.add(r["id"])
            self.ui.evaluated(r, ev)

    def _bought_data(self, r: dict) -> bool:
        """Whether a label was paid for since this round cleared: its own, or work held on
        probation in an earlier round and paid at this round's settlement (a pay entry keeps
        the label's own round). Everything paid before this round cleared was paid by the last
        settlement, so the worker has trained on it already."""
        entries = self.req.ledger(self.cid)["entries"]
        cleared = min((e["id"] for e in entries if e["round_id"] == r["id"]), default=None)
        if cleared is None:
            return False
        paid = {e["label_id"] for e in entries if e["reason"] == "pay" and e["id"] >= cleared}
        return any(row["label_id"] in paid for row in self.req.export_labels(self.cid))
