"""Pure data shaping for the portal: API dicts in, numbers, tables and sentences out.

Nothing here imports Streamlit or talks HTTP, so every rule a page shows (which pages a
role sees, what a bid preview means, how the win-rate curve is drawn, how a campaign form
becomes an API body) is unit tested without a browser or a server. Money arrives from the
API in integer cents and is only turned into dollars for display.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from market.accounting import METRICS
from market.acquisition import names as acquisition_names
from market.mechanisms import RULES
from market.money import usd

# --- navigation -------------------------------------------------------------------------

# Page names are the files under ui/screens/ (without .py). The lab needs no account: the
# simulator runs locally, so it is open to everyone, signed in or not.
ROLE_PAGES: dict[str | None, tuple[str, ...]] = {
    None: ("signin", "lab"),
    "annotator": ("rounds", "label", "earnings", "lab"),
    "requester": ("campaigns", "dashboard", "quality", "lab"),
    "admin": ("accounts", "campaigns", "dashboard", "quality", "rounds", "label", "earnings", "lab"),
    "worker": ("lab",),
}

PAGE_TITLES = {
    "signin": "Sign in",
    "rounds": "Open rounds",
    "label": "Label",
    "earnings": "Earnings",
    "campaigns": "Campaigns",
    "dashboard": "Dashboard",
    "quality": "Quality",
    "accounts": "Accounts",
    "lab": "Economist lab",
}


def pages_for(role: str | None) -> tuple[str, ...]:
    """The pages an account of ``role`` sees, first one the landing page.

    An unknown role (a newer server) gets only the lab rather than pages whose calls it
    would be refused."""
    return ROLE_PAGES.get(role, ROLE_PAGES["worker"])


# --- money, time, text ------------------------------------------------------------------


def dollars(cents: int | float | None) -> str:
    """``1234`` → ``"$12.34"``; ``None`` → ``"—"``: the market's formatter with the portal's
    placeholder for a figure there is nothing to show for yet."""
    return usd(cents, none="—")


def to_cents(amount_dollars: float) -> int:
    """Dollars typed into a form → integer cents, half a cent rounding up as people expect.

    Goes through the decimal the person typed (``repr``), not the binary float, so
    ``12.345`` becomes 1235 rather than 1234."""
    if not math.isfinite(amount_dollars):
        raise ValueError("amount: must be a finite number of dollars")
    return int((Decimal(repr(float(amount_dollars))) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_time(value: str | datetime | None) -> datetime | None:
    """An API timestamp (ISO 8601) as an aware UTC datetime; naive ones are taken as UTC."""
    if value is None:
        return None
    t = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def time_left(deadline: str | datetime | None, now: datetime) -> str:
    """``"4m 10s"``, ``"1h 02m"``, ``"2d 3h"`` until ``deadline``; ``"past"`` once it passed."""
    end = parse_time(deadline)
    if end is None:
        return "—"
    s = int((end - now).total_seconds())
    if s <= 0:
        return "past"
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {(s % 3600) // 60:02d}m"
    return f"{s // 86400}d {(s % 86400) // 3600}h"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<$])")


def plain(text: str | None) -> str:
    """Escape Markdown so a prompt or completion shows exactly as written (``*`` stays ``*``)."""
    if not text:
        return "*(empty)*"
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("\n", "  \n")


def error_message(status: int, detail: str) -> str:
    """What a person should read for an API error (``MarketError(status, detail)``); for an
    unreachable API the client's detail already names the address it tried."""
    if status == 0:
        return f"The market API is unreachable. Is it running? ({detail})"
    if status == 401:
        return f"Your token was not accepted ({detail}). Sign in again with a valid token."
    if status == 403:
        return f"Not allowed: {detail}"
    if status >= 500:
        return f"The market API failed ({status}): {detail}"
    return detail


# --- annotator: rounds and bids ---------------------------------------------------------


@dataclass(frozen=True)
class WinPreview:
    """How often an ask would have won in the campaign's recent cleared rounds."""

    wins: int
    rounds: int
    above_max: bool  # the ask exceeds the round's max price: it cannot win now

    @property
    def share(self) -> float | None:
        return self.wins / self.rounds if self.rounds else None

    @property
    def text(self) -> str:
        if self.above_max:
            return "This ask is above the round's maximum price per label, so it cannot win."
        if not self.rounds:
            return "No cleared rounds yet for this campaign: no history to compare your ask with."
        return (f"At this ask you would have won in {self.wins} of the last {self.rounds} cleared rounds "
                f"({self.share:.0%}).")


def win_preview(ask_cents: int, past_prices_cents: Iterable[int], max_price_cents: int | None = None) -> WinPreview:
    """Count past rounds whose clearing price was at least ``ask_cents``.

    A unit wins when its ask is at or below the round's clearing price (the uniform
    threshold, or the highest price paid under pay-as-bid), so this replays the ask against
    history with everyone else's bids as they were. It is a guide, not a promise: others
    bid differently each round, and quality-weighted rules compare ask / quality."""
    past = [int(p) for p in past_prices_cents]
    wins = sum(1 for p in past if ask_cents <= p)
    above = max_price_cents is not None and ask_cents > max_price_cents
    return WinPreview(wins=0 if above else wins, rounds=len(past), above_max=above)


def suggested_ask(past_prices_cents: list[int], max_price_cents: int) -> int:
    """A starting ask for the form: the median past clearing price, else half the max price."""
    if past_prices_cents:
        s = sorted(past_prices_cents)
        return max(1, int(s[len(s) // 2]))
    return max(1, max_price_cents // 2)


def campaign_label(r: Mapping) -> str:
    """A round's campaign as shown: its name where the API gives it (owners, workers,
    admins), else its number (annotators see only a round's terms, never campaign names)."""
    return r.get("campaign_name") or f"campaign #{r['campaign_id']}"


def price_history_label(r: Mapping) -> str:
    """Whose past clearing prices a round carries: its campaign's in the full view, the
    rule's across the market in an annotator's (see ``market.round_access``)."""
    if "campaign_name" in r:
        return r["campaign_name"]
    return f"{r['rule'].replace('_', ' ')} rounds across the market"


def round_label(r: Mapping) -> str:
    """How a round reads in a picker: ``"#7 · movie reviews · 25 labels"``."""
    return f"#{r['id']} · {campaign_label(r)} · {r['demand']} labels"


def open_rounds_rows(rounds: list[Mapping], my_bids: Mapping[int, Mapping | None], now: datetime) -> pd.DataFrame:
    """The open-rounds table an annotator scans: demand, price cap, time left, own bid."""
    rows = []
    for r in rounds:
        bid = my_bids.get(r["id"])
        rows.append({
            "round": r["id"],
            "campaign": campaign_label(r),
            "rule": r["rule"],
            "labels wanted": r["demand"],
            "max price": dollars(r["max_price_cents"]),
            "closes in": time_left(r["deadline"], now),
            "last clearing price": dollars(r["past_clearing_prices_cents"][-1])
            if r["past_clearing_prices_cents"] else "—",
            "my bid": f"{dollars(bid['ask_cents'])} × {bid['capacity']}" if bid else "—",
        })
    return pd.DataFrame(rows, columns=["round", "campaign", "rule", "labels wanted", "max price", "closes in",
                                       "last clearing price", "my bid"])


def clearing_price_frame(past_prices_cents: list[int]) -> pd.DataFrame:
    """Recent clearing prices (oldest first) as a chartable frame in dollars."""
    return pd.DataFrame({
        "cleared round (oldest first)": list(range(1, len(past_prices_cents) + 1)),
        "clearing price ($)": [p / 100 for p in past_prices_cents],
    })


# --- annotator: labelling and earnings --------------------------------------------------

CHOICES = (("a", "A is better", "A"), ("b", "B is better", "B"), ("tie", "Tie", "T"))
"""(choice sent to the API, button text, keyboard shortcut). ``C`` and ``R`` are reserved
by Streamlit, so tie is ``T``."""

CONFIDENCE = {"unsure": 0.55, "fairly sure": 0.75, "sure": 0.95}
"""Optional confidence, in words for the annotator and as a probability for the API
(QA-DPO can weigh pairs by it)."""


def label_message(result: Mapping) -> str:
    """What the server recorded for a submitted label, in words: its choice, not the
    button's, so a replayed double click on a pair already labelled cannot claim a
    different answer."""
    chosen = {"a": "A", "b": "B", "tie": "a tie"}[result["choice"]]
    if result.get("replayed"):
        return f"That pair was already labelled (you chose {chosen}); nothing changed."
    if not result.get("accepted"):
        why = (result.get("reject_reason") or "").strip()
        if not why:  # not accepted, no reason: held (market.quality.acceptance)
            return (f"Label recorded (you chose {chosen}) and held: work won on probation is paid once this "
                    "account's checks on the campaign end well, and otherwise not paid.")
        return f"Label recorded (you chose {chosen}) but not accepted, so it is not paid. Why: {why}"
    return f"Label accepted: you chose {chosen}. Paid {dollars(result.get('paid_cents', 0))}."


def label_status(label: Mapping) -> str:
    """accepted (paid), rejected (with its reason), or held: not accepted and no reason,
    work won on probation waiting for the account's gold test (market.quality.acceptance)."""
    if label["accepted"]:
        return "accepted"
    return "rejected" if label.get("reject_reason") else "held"


HELD = "held: paid once this account's checks on the campaign end well"


def label_tally(assignments: Iterable[Mapping]) -> dict[str, int]:
    """Counts of accepted, held, rejected, open and released work among ``assignments``."""
    tally = {"accepted": 0, "held": 0, "rejected": 0, "open": 0, "released": 0}
    for a in assignments:
        lab = a.get("label")
        if lab is not None:
            tally[label_status(lab)] += 1
        elif a["state"] in ("open", "released"):
            tally[a["state"]] += 1
    return tally


def work_rows(assignments: Iterable[Mapping]) -> pd.DataFrame:
    """One row per labelled assignment: what was chosen and what it paid."""
    rows = []
    for a in assignments:
        lab = a.get("label")
        if lab is None:
            continue
        rows.append({
            "assignment": a["id"],
            "campaign": a["campaign_id"],
            "round": a["round_id"],
            "prompt": (a["prompt"] or "")[:80],
            "choice": lab["choice"],
            "confidence": f"{lab['confidence']:.0%}" if lab.get("confidence") is not None else "—",
            "status": label_status(lab),
            "price": dollars(a["price_cents"]),
            "paid": dollars(lab.get("paid_cents", 0)),
            "why not paid": {"accepted": "", "held": HELD}.get(label_status(lab), lab.get("reject_reason")),
        })
    return pd.DataFrame(rows, columns=["assignment", "campaign", "round", "prompt", "choice", "confidence",
                                       "status", "price", "paid", "why not paid"])


def earnings_by_campaign(by_campaign: Mapping) -> pd.DataFrame:
    """``{campaign_id: cents}`` (JSON keys arrive as strings) → a bar-chartable frame."""
    items = sorted((int(k), int(v)) for k, v in by_campaign.items())
    return pd.DataFrame({"campaign": [f"#{k}" for k, _ in items], "earned ($)": [v / 100 for _, v in items]})


# --- requester --------------------------------------------------------------------------

ACQUISITIONS = acquisition_names()
"""The acquisition methods of the market's registry (``market.acquisition``); the market
checks the name and the policy worker that serves the campaign applies it."""


def campaign_fields(
    *,
    name: str,
    budget_dollars: float,
    max_price_cents: int,
    rule: str,
    acquisition: str,
    labels_per_item: int,
    round_size: int,
    round_duration_s: float,
    round_budget_dollars: float = 0.0,
    posted_price_cents: int | None = None,
) -> dict:
    """The body of ``create_campaign`` from the form, in integer cents.

    Checks only what the form itself can get wrong (a blank name, a posted price without
    the posted-price rule); the server validates the rest and its message is shown."""
    name = name.strip()
    if not name:
        raise ValueError("name: give the campaign a name")
    if rule not in RULES:
        raise ValueError(f"rule: must be one of {', '.join(RULES)}")
    fields = dict(
        name=name,
        budget_cents=to_cents(budget_dollars),
        max_price_cents=int(max_price_cents),
        rule=rule,
        acquisition=acquisition,
        labels_per_item=int(labels_per_item),
        round_size=int(round_size),
        round_duration_s=float(round_duration_s),
    )
    if round_budget_dollars and round_budget_dollars > 0:
        fields["round_budget_cents"] = to_cents(round_budget_dollars)
    if rule == "posted_price":
        if not posted_price_cents:
            raise ValueError("posted_price_cents: the posted-price rule needs a posted price")
        fields["posted_price_cents"] = int(posted_price_cents)
    return fields


def spend_shares(summary: Mapping) -> dict[str, float]:
    """Spent, escrowed and remaining as shares of the budget (for the progress bar)."""
    budget = max(int(summary["budget_cents"]), 1)
    return {k: min(max(summary[f"{k}_cents"] / budget, 0.0), 1.0) for k in ("spent", "escrowed", "remaining")}


def rounds_rows(rounds: list[Mapping], now: datetime) -> pd.DataFrame:
    """The requester's round table, newest first as the API lists them."""
    rows = [{
        "round": r["id"],
        "state": r["state"],
        "labels wanted": r["demand"],
        "bids": r.get("n_bids"),
        "assigned": r["n_assignments"],
        "clearing price": dollars(r["clearing_price_cents"]),
        "escrowed": dollars(r["escrowed_cents"]),
        "paid": dollars(r["paid_cents"]),
        "deadline": time_left(r["deadline"], now) if r["state"] == "open" else "—",
        "note": r.get("reason") or "",
    } for r in rounds]
    return pd.DataFrame(rows, columns=["round", "state", "labels wanted", "bids", "assigned", "clearing price",
                                       "escrowed", "paid", "deadline", "note"])


def price_history(rounds: list[Mapping]) -> pd.DataFrame:
    """Clearing prices of a campaign's cleared rounds in round order (dollars)."""
    done = sorted((r for r in rounds if r.get("clearing_price_cents") is not None), key=lambda r: r["id"])
    return pd.DataFrame({
        "round": [r["id"] for r in done],
        "clearing price ($)": [r["clearing_price_cents"] / 100 for r in done],
        "labels assigned": [r["n_assignments"] for r in done],
    })


METRIC_TITLES = {name: m.title for name, m in METRICS.items()}  # the metrics the accounting prices


def metric_frame(accounting: Mapping) -> pd.DataFrame:
    """The API's accounting curve: the metric (%) with its 95% CI against cumulative spend
    ($, for the chart's axis), the unmeasured step-0 origin first."""
    pts = accounting["curve"]
    return pd.DataFrame({
        "spend ($)": [p["spend_cents"] / 100 for p in pts],
        "value (%)": [100 * p["value"] for p in pts],
        "ci low (%)": [100 * p["ci_low"] for p in pts],
        "ci high (%)": [100 * p["ci_high"] for p in pts],
        "n": [p["n"] for p in pts],
    })


def metric_headline(accounting: Mapping) -> dict[str, str]:
    """The numbers the product is about, as the API computed them: the metric's latest
    value and 95% CI, dollars per point above 50% (all spend charged), and dollars spent
    when the curve first reached the target."""
    title = METRIC_TITLES.get(accounting["metric"], accounting["metric"])
    per_key, reach_key = f"$ per {title.replace(' ', '-')} point", f"$ to reach {accounting['target']:g}%"
    last = accounting["final"]
    if last is None:
        return {title: "—", "95% CI": "—", per_key: "—", reach_key: "—"}
    return {
        title: f"{100 * last['value']:.1f}%",
        "95% CI": f"{100 * last['ci_low']:.1f}–{100 * last['ci_high']:.1f}%",
        per_key: usd(accounting["cents_per_point"], none="≤ 50%"),
        reach_key: usd(accounting["cents_to_target"], none="not yet"),
    }


def to_jsonl(rows: Iterable[Mapping]) -> str:
    """Rows as JSON Lines (the export format TRL reads)."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
