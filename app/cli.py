"""The ``prefmarket`` command line (typer).

``serve`` and ``admin create-account`` work on the database directly because they
bootstrap the market (there is no admin token before the first admin exists); every
other command goes through the HTTP API with ``MarketClient`` (``--url``/``--token`` or
``PREFMARKET_URL``/``PREFMARKET_TOKEN``), like any other client. Errors print what to fix,
never a traceback.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from market import acquisition as acquisition_registry
from market.api.schemas import CampaignCreate
from market.client import MarketClient, MarketError
from market.upload import read_text
from market.mechanisms import RULES
from market.money import usd

app = typer.Typer(
    name="prefmarket",
    help="prefmarket: buy pairwise preference labels at auction, train with DPO, see what each win-rate point cost.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
admin_app = typer.Typer(help="Bootstrap: accounts created directly in the database.", no_args_is_help=True)
campaign_app = typer.Typer(help="Requester commands (through the HTTP API).", no_args_is_help=True)
token_app = typer.Typer(help="Your API tokens (through the HTTP API; an admin's: anyone's): list, revoke, rotate.",
                        no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(campaign_app, name="campaign")
app.add_typer(token_app, name="token")

console = Console()
err = Console(stderr=True)

RULE_NAMES = tuple(RULES)  # for help texts; the market checks the name against the same core
KEEP_ALIVE_S = 75  # seconds an idle HTTP connection stays open (see serve)

Url = Annotated[str, typer.Option("--url", envvar="PREFMARKET_URL", help="market base URL")]
Token = Annotated[Optional[str], typer.Option("--token", envvar="PREFMARKET_TOKEN", help="bearer token", show_default=False)]

HINTS = {
    0: "is the server running? start it with `prefmarket serve`, or pass --url / PREFMARKET_URL",
    401: "check --token / PREFMARKET_TOKEN (create one with `prefmarket admin create-account`)",
    403: "this token's account may not do this (wrong role, or not the campaign's owner)",
    404: "check the id (you only see your own campaigns)",
}


def _fail(message: str, hint: str | None = None) -> None:
    err.print(f"[bold red]error:[/] {message}")
    if hint:
        err.print(f"[yellow]hint:[/] {hint}")
    raise typer.Exit(1)


def friendly(fn):
    """Turn MarketError and other expected failures into a message and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MarketError as exc:
            _fail(f"{exc.status or 'connection'}: {exc.detail}", HINTS.get(exc.status))
        except (OSError, ValueError) as exc:
            _fail(str(exc))

    return wrapper


def _client(url: str, token: str | None) -> MarketClient:
    if not token:
        _fail("no token given", HINTS[401])
    return MarketClient(url, token)


# --- serve and bootstrap ------------------------------------------------------------------


def create_app_from_env():
    """uvicorn factory: the app on ``DATABASE_URL``, sweeping every ``PREFMARKET_SWEEP_S`` seconds.

    Everything made while starting (modules, the app, its routes and schemas) lives as long
    as the server, so it is frozen out of the garbage collector's reach: a full collection
    then scans only what requests made. Unfrozen, each one stopped every request for about
    140 ms, about once a second under load (``python -m bench http``: the bids' p99 went
    from 4.5x health's to about 2x)."""
    import gc

    from market.api.app import create_app

    sweep = float(os.environ.get("PREFMARKET_SWEEP_S", "5") or 0)
    app = create_app(sweep_interval_s=sweep or None)
    gc.collect()  # what is garbage now is collected, not frozen
    gc.freeze()
    return app


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes (SQLite writers take turns through a lock shared by the processes)")] = 1,
    database_url: Annotated[Optional[str], typer.Option(envvar="DATABASE_URL", help="SQLAlchemy URL; default: SQLite under ./data")] = None,
    sweep_interval: Annotated[float, typer.Option(help="seconds between sweeps that settle overdue rounds (0: lazy only)")] = 5.0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
):
    """Run the HTTP API (uvicorn)."""
    import uvicorn

    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ["PREFMARKET_SWEEP_S"] = str(sweep_interval)
    try:
        create_app_from_env()  # create tables once, and fail here with a clear message if the DB is unreachable
    except Exception as exc:  # noqa: BLE001 - report, don't trace
        _fail(f"cannot open the database: {exc}", "check DATABASE_URL / --database-url")
    # Idle keep-alive connections outlive the clients' own expiry (httpx: 5 s), so a client never
    # reuses a connection the server is closing at that moment; at uvicorn's default (also 5 s)
    # the two raced and the load test's clients saw ReadError between bidding and labelling.
    uvicorn.run("app.cli:create_app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, timeout_keep_alive=KEEP_ALIVE_S)


@admin_app.command("create-account")
def create_account(
    name: Annotated[str, typer.Option(help="account name")],
    role: Annotated[str, typer.Option(help="admin, requester, annotator or worker")] = "admin",
    database_url: Annotated[Optional[str], typer.Option(envvar="DATABASE_URL", help="SQLAlchemy URL")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
):
    """Create an account directly in the database and print its token (shown once)."""
    from market import accounts, db
    from market.errors import MarketProblem

    try:
        engine = db.make_engine(database_url)
        db.init_db(engine)
        with db.session_scope(engine) as s:
            account, token = accounts.create_account(s, name, role)
            s.commit()
    except MarketProblem as exc:
        _fail(exc.detail)
    except Exception as exc:  # noqa: BLE001
        _fail(f"cannot create the account: {exc}", "check DATABASE_URL / --database-url")
    if as_json:
        print(json.dumps({"id": account.id, "name": account.name, "role": account.role, "token": token}))
    else:
        console.print(f"created {account.role} [bold]{account.name}[/] (id {account.id})")
        console.print(f"token (shown once): [bold green]{token}[/]")


# --- campaign commands (HTTP) -------------------------------------------------------------


# The API requires a rule; the command line offers the one the README's quickstart uses.
CREATE_DEFAULTS = {"rule": "budget_feasible"}


def campaign_term_options() -> list[inspect.Parameter]:
    """One keyword-only option per field of the API's create schema (``CampaignCreate``, whose
    terms are declared once in ``market.tables.CampaignTerms``), with the field's type, default
    and help: the command line offers every term the API takes, under the same names."""
    params = []
    for name, f in CampaignCreate.model_fields.items():
        default = CREATE_DEFAULTS.get(name, inspect.Parameter.empty if f.is_required() else f.default)
        option = typer.Option(help=f.description, rich_help_panel="Campaign terms")
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=Annotated[f.annotation, option]))
    return params


@friendly
def campaign_create(*, url: Url = "http://127.0.0.1:8000", token: Token = None, **terms: Any):
    """Create (and fund) a campaign. Every term of the API is an option; unset ones take its defaults."""
    c = _client(url, token).create_campaign(**{k: v for k, v in terms.items() if v is not None})
    console.print(f"campaign [bold]{c['id']}[/] '{c['name']}' funded with {usd(c['budget_cents'])}, rule {c['rule']}")


campaign_create.__signature__ = inspect.Signature(campaign_term_options() + [
    p for p in inspect.signature(campaign_create, eval_str=True).parameters.values()
    if p.kind is not inspect.Parameter.VAR_KEYWORD
])
campaign_app.command("create")(campaign_create)


def _refused_path(source: Path, chosen: Optional[Path]) -> Path:
    """Where refused lines go: ``--refused`` if given, else ``<input>.refused.jsonl`` beside
    the input, or in the current folder when the input's folder is read-only (shared data:
    its mode bits forbid writing, which root would otherwise ignore)."""
    if chosen is not None:
        return chosen
    beside = source.with_name(source.name + ".refused.jsonl")
    folder = source.resolve().parent
    writable = os.access(folder, os.W_OK) and folder.stat().st_mode & 0o222
    return beside if writable else Path.cwd() / beside.name


def _write_refused(text: str, refused: list[dict], dest: Path) -> None:
    """One JSON line per refused line: its number, the reason and the line itself, to fix and resend."""
    source_lines = text.splitlines()
    with dest.open("w", encoding="utf-8") as fh:
        for r in refused:
            fh.write(json.dumps({"line": r["line"], "reason": r["reason"], "text": source_lines[r["line"] - 1]},
                                ensure_ascii=False) + "\n")


@campaign_app.command("upload")
@friendly
def campaign_upload(
    campaign_id: Annotated[int, typer.Argument(help="campaign id")],
    path: Annotated[Path, typer.Argument(help="JSONL file, or gzipped JSONL (.jsonl.gz): trl, pair, hh or prompt "
                                                "format (a held-out set: trl, hh, or pair with gold)",
                                         dir_okay=False)],
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid", help="import the good lines and write every refused line, with its number and reason, "
                               "to --refused (default: one bad line refuses the whole file)")] = False,
    refused: Annotated[Optional[Path], typer.Option(
        help="file for refused lines (default: <input>.refused.jsonl beside the input, or in the current folder "
             "if that one is read-only)", dir_okay=False)] = None,
    held_out: Annotated[bool, typer.Option(
        "--held-out", help="upload a held-out labelled set (trl, hh, or pair with gold): stored apart, never "
                           "offered to annotators nor trained on; the worker reports accuracy on it each round")] = False,
    url: Url = "http://127.0.0.1:8000",
    token: Token = None,
):
    """Upload items (or, with --held-out, a held-out labelled set) from a JSONL or JSONL.gz file.

    The file is decompressed here and sent as text, so the market's upload limit applies
    to the real size of the data."""
    text = read_text(path)
    client = _client(url, token)
    if held_out:
        out = client.upload_held_out(campaign_id, text, skip_invalid=skip_invalid)
        what = "held-out pairs"
    else:
        out = client.upload_items(campaign_id, text, skip_invalid=skip_invalid)
        what = "items"
    console.print(f"imported {out['imported']} {what} ({out['format']} format) into campaign {campaign_id}")
    if out["refused"]:
        dest = _refused_path(path, refused)
        _write_refused(text, out["refused"], dest)
        first = out["refused"][0]
        console.print(f"refused {len(out['refused'])} lines (first: line {first['line']}: {first['reason']})",
                      soft_wrap=True)
        console.print(f"every refused line, with its number and reason, is in {dest}", soft_wrap=True, markup=False)
    elif skip_invalid:
        console.print("refused 0 lines")


@campaign_app.command("open-round")
@friendly
def campaign_open_round(
    campaign_id: Annotated[int, typer.Argument(help="campaign id")],
    duration_s: Annotated[Optional[float], typer.Option(help="bidding window, seconds")] = None,
    url: Url = "http://127.0.0.1:8000",
    token: Token = None,
):
    """Open a sealed-bid round over the best available items."""
    r = _client(url, token).open_round(campaign_id, duration_s)
    console.print(f"round [bold]{r['id']}[/] open: {r['demand']} labels wanted, budget {usd(r['budget_cents'])}, "
                  f"deadline {r['deadline']}")


@campaign_app.command("close-round")
@friendly
def campaign_close_round(
    round_id: Annotated[int, typer.Argument(help="round id")],
    url: Url = "http://127.0.0.1:8000",
    token: Token = None,
):
    """Close bidding now: clear, assign, escrow."""
    r = _client(url, token).close_round(round_id)
    price = "-" if r["clearing_price_cents"] is None else f"{r['clearing_price_cents']}c"
    console.print(f"round {r['id']} {r['state']}: {r['n_assignments']} assignments, clearing price {price}, "
                  f"escrowed {usd(r['escrowed_cents'])} ({r['reason']})")


@campaign_app.command("status")
@friendly
def campaign_status(
    campaign_id: Annotated[int, typer.Argument(help="campaign id")],
    url: Url = "http://127.0.0.1:8000",
    token: Token = None,
):
    """Spend, labels, remaining budget and the campaign's rounds."""
    client = _client(url, token)
    s = client.campaign_summary(campaign_id)
    rounds = client.list_rounds(campaign_id=campaign_id)
    console.print(
        f"campaign {campaign_id} ({s['rule']}): spent {usd(s['spent_cents'])} of {usd(s['budget_cents'])}, "
        f"escrowed {usd(s['escrowed_cents'])}, remaining {usd(s['remaining_cents'])}; "
        f"{s['labels']} labels, {s['items_labelled']}/{s['items']} items done; books balanced: {s['balanced']}"
    )
    console.print(_rounds_table(rounds, title=f"rounds of campaign {campaign_id}"))


@campaign_app.command("export")
@friendly
def campaign_export(
    campaign_id: Annotated[int, typer.Argument(help="campaign id")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="write JSONL here (default: stdout)")] = None,
    include_ties: Annotated[bool, typer.Option(help="also export tie labels")] = False,
    url: Url = "http://127.0.0.1:8000",
    token: Token = None,
):
    """Export accepted labels as a TRL prompt/chosen/rejected JSONL dataset."""
    rows = _client(url, token).export_labels(campaign_id, include_ties=include_ties)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        err.print(f"wrote {len(rows)} labels to {out}")


# --- token commands (HTTP) -----------------------------------------------------------------


def _expiry(days: float | None) -> str | None:
    if days is None:
        return None
    if not days > 0:
        raise ValueError("--expires-in-days: must be a positive number of days")
    from datetime import timedelta

    from market import clock

    return (clock.now() + timedelta(days=days)).isoformat()


ExpiresInDays = Annotated[Optional[float], typer.Option(
    "--expires-in-days", help="the new token stops working after this many days (default: never, or the old one's "
    "expiry when rotating)", show_default=False)]


@token_app.command("list")
@friendly
def token_list(
    account_id: Annotated[Optional[int], typer.Option(help="admins: another account's tokens")] = None,
    url: Url = "http://127.0.0.1:8000",
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
):
    """Your tokens (never their secrets): id, status, expiry; * marks the one in use."""
    rows = _client(url, token).list_tokens(account_id)
    if as_json:
        print(json.dumps(rows))
        return
    t = Table(title="tokens")
    for c in ("id", "", "status", "created", "expires", "revoked"):
        t.add_column(c)
    for r in rows:
        t.add_row(str(r["id"]), "*" if r["current"] else "", r["status"], r["created_at"][:19],
                  (r["expires_at"] or "never")[:19], (r["revoked_at"] or "")[:19])
    console.print(t)


@token_app.command("revoke")
@friendly
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="the token's id (see `prefmarket token list`)")],
    url: Url = "http://127.0.0.1:8000",
    token: Token = None,
):
    """Revoke a token: every server process refuses it from its next request on."""
    r = _client(url, token).revoke_token(token_id)
    console.print(f"token {r['id']} of account {r['account_id']} revoked at {r['revoked_at']}")


@token_app.command("rotate")
@friendly
def token_rotate(
    token_id: Annotated[Optional[int], typer.Argument(help="the token's id (default: the one in use)",
                                                     show_default=False)] = None,
    expires_in_days: ExpiresInDays = None,
    url: Url = "http://127.0.0.1:8000",
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
):
    """Issue a new token and revoke the old one at once; the new one is shown once."""
    client = _client(url, token)
    expires_at = _expiry(expires_in_days)
    if token_id is None:
        token_id = next(r["id"] for r in client.list_tokens() if r["current"])
    new = client.rotate_token(token_id, expires_at)
    if as_json:
        print(json.dumps(new))
        return
    console.print(f"token {token_id} revoked; its successor is token {new['id']} "
                  f"(expires {new['expires_at'] or 'never'})")
    console.print(f"new token (shown once): [bold green]{new['token']}[/]")


# --- demo ---------------------------------------------------------------------------------


def _rounds_table(rounds: list[dict], title: str) -> Table:
    t = Table(title=title)
    for c in ("round", "state", "demand", "assigned", "clearing", "escrowed", "paid", "released", "why"):
        t.add_column(c)
    for r in sorted(rounds, key=lambda r: r["id"]):
        t.add_row(str(r["id"]), r["state"], str(r["demand"]), str(r["n_assignments"]),
                  "-" if r["clearing_price_cents"] is None else f"{r['clearing_price_cents']}c",
                  usd(r["escrowed_cents"]), usd(r["paid_cents"]), usd(r["released_cents"]), r["reason"] or "")
    return t


@app.command()
def demo(
    budget: Annotated[Optional[float], typer.Option(help="the auction campaign's budget in dollars (default: the preset's)")] = None,
    rule: Annotated[str, typer.Option(help=f"auction rule: {', '.join(RULE_NAMES)}")] = "budget_feasible",
    acquisition: Annotated[str, typer.Option(help=(
        f"which items the policy asks for: {', '.join(acquisition_registry.METHODS)} (default: what "
        "`prefmarket experiment` measured best, docs/results.md)"))] = acquisition_registry.DEFAULT,
    rounds: Annotated[Optional[int], typer.Option(help="rounds of the auction campaign (default: the preset's)")] = None,
    model: Annotated[Optional[str], typer.Option(help="model path or id; default the embedded SmolLM2-135M-Instruct; "
                                                 "'tiny' for the tiny test model")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda (auto: cuda when the worker would see a GPU)")] = "auto",
    seed: Annotated[int, typer.Option(help="seed for the pool, the bots, sampling and training")] = 0,
    quick: Annotated[bool, typer.Option("--quick", help="a smoke run: every step, tiny sizes")] = False,
    quality: Annotated[bool, typer.Option(help="a vetting phase (gold checks, its own budget line), then gold checks "
                                          "at a steady share in the campaigns, the vetting records carried")] = True,
    spammers: Annotated[Optional[float], typer.Option(min=0.0, max=0.99, help="share of spammers among the "
                                                      "annotator bots (default 0.2)")] = None,
    twin: Annotated[bool, typer.Option("--twin", help="also the auction without gold checks on the same pairs, to "
                                       "see what gold checks bought (one campaign's more time)")] = False,
    posted_price_cents: Annotated[Optional[int], typer.Option(
        "--posted-price-cents", help="the posted-price baseline's price per label, integer cents, 1 to the campaigns' "
        "maximum price (default: the median private cost of the bot population, rounded up to a cent)")] = None,
    out: Annotated[Optional[Path], typer.Option(help="run folder (default runs/<timestamp>); an existing one is resumed")] = None,
):
    """Run the product end to end: an auction with acquisition against a posted price with random items.

    Starts the market, the policy workers and annotator bots as processes; samples the pool
    and judge-labelled held-out pairs; vets the annotators once; runs the auction campaign,
    then a posted-price baseline at the auction's spend, on the same pairs; trains a
    coin-flip control; evaluates every policy on the same held-out prompts and seeds; writes
    runs/<timestamp>/report.md, which leads with the claim. The baseline's price is set in
    advance (the bots' median cost, or --posted-price-cents)."""
    from app.demo import run as demo_run
    from app.demo.processes import DemoError
    from app.demo.settings import DemoSettings, choose
    from ui.cli import portal_url

    out = out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    try:
        if (out / "settings.json").exists():
            settings = DemoSettings.load(out / "settings.json")
            console.print(f"resuming {out} with the settings it was started with (options given now are ignored)")
        else:
            settings = choose(quick=quick, device=demo_run.resolve_device(device), budget=budget, rounds=rounds,
                              rule=rule, acquisition=acquisition, model=model, seed=seed, quality=quality,
                              spammers=spammers, twin=twin, posted_price_cents=posted_price_cents)
        report = demo_run.run(settings, out, console)
    except (DemoError, ValueError) as exc:
        _fail(str(exc), f"logs are in {out / 'logs'}; run the same command again to resume")
    except KeyboardInterrupt:
        _fail("interrupted", f"resume with: prefmarket demo --out {out}")
    summary = json.loads((out / "summary.json").read_text())
    _print_demo_summary(summary, report)
    db_path = (out / "market.db").resolve()
    console.print("\n[bold]Browse this run in the portal[/] (two terminals):")
    console.print(f"  prefmarket serve --database-url sqlite:///{db_path} --port 8000")
    console.print("  prefmarket portal --api-url http://127.0.0.1:8000")
    console.print(f"then open {portal_url('127.0.0.1', 8501)} and sign in with the requester token in {out / 'state.json'}")


@app.command("demo-compare")
def demo_compare(
    runs: Annotated[list[Path], typer.Argument(help="finished demo run folders, one per seed (e.g. runs/seed0 runs/seed1)",
                                               show_default=False)],
    out: Annotated[Path, typer.Option(help="folder for compare.md, compare.png and compare.json")] = Path("runs/compare"),
):
    """Pool several demo runs (one per seed): each campaign's final win rate and $ per point,
    per run and over all runs' held-out prompts, and the gold campaigns against the one without."""
    from app.demo.compare import TITLES, CompareError, write

    try:
        result = write(runs, out)
    except (CompareError, OSError) as exc:
        _fail(str(exc))
    t = Table(title=f"{len(runs)} demo runs pooled ({result['preset']} sizes, seeds "
                    f"{', '.join(map(str, result['seeds']))})")
    for c in ("campaign", "runs", "mean spend", "pooled win rate (95% CI)", "$ per point"):
        t.add_column(c)
    for name, p in result["pooled"].items():
        win = "-" if p.win_rate is None else \
            f"{100 * p.win_rate:.1f}% ({100 * p.ci_low:.1f}-{100 * p.ci_high:.1f})"
        t.add_row(TITLES.get(name, name), str(p.runs), usd(p.mean_spend_cents), win,
                  usd(p.cents_per_point, none="no gain"))
    console.print(t)
    for name, a in result["against"].items():
        console.print(f"{TITLES[name]}: cheaper per point than without gold checks on {a.cheaper_per_point} of "
                      f"{a.seeds} seeds; final win rate {100 * a.mean_difference:+.1f} points on average "
                      f"({100 * a.ci_low:+.1f} to {100 * a.ci_high:+.1f})")
    console.print(f"report: [bold]{out / 'compare.md'}[/]")


def _print_demo_summary(summary: dict, report: Path) -> None:
    from app.demo.report import quality_verdict, verdict

    t = Table(title=f"prefmarket demo ({summary['wall_s'] / 60:.1f} min)")
    for c in ("campaign", "training labels", "spend", "final win rate (95% CI)", "$ per point",
              "spammers' share after round 1"):
        t.add_column(c)
    for name, c in summary["campaigns"].items():
        f = c["final"]
        win = "-" if f is None else f"{100 * f['win_rate']:.1f}% ({100 * f['ci_low']:.1f}-{100 * f['ci_high']:.1f})"
        per = usd(c["cents_per_point"])
        late = c["spammer_share_after_round_1"]
        t.add_row(name, str(c["training_labels"]), usd(c["spent_cents"]), win, per,
                  "-" if late is None else f"{100 * late:.1f}%")
    console.print(t)
    c = summary["campaigns"]
    console.print(verdict(summary["comparison"], c["auction"], c["baseline"]).replace("**", ""))
    if "no_qc" in c:
        console.print(quality_verdict(c["auction"], c["no_qc"]).replace("**", ""))
    console.print(f"report: [bold]{report}[/]")


# --- the other parts' commands --------------------------------------------------------------
# Mounted without a group name, so they read as `prefmarket simulate`, `prefmarket portal`,
# `prefmarket worker`. Each keeps heavy imports (torch, streamlit) inside its commands.
from bidders.cli import app as _bidders_app  # noqa: E402
from policy.cli import worker as _worker  # noqa: E402
from ui.cli import app as _ui_app  # noqa: E402
from app.experiments.cli import experiment as _experiment  # noqa: E402

app.add_typer(_bidders_app)
app.add_typer(_ui_app)
app.command("worker")(_worker)
app.command("experiment")(_experiment)


if __name__ == "__main__":  # pragma: no cover
    app()
