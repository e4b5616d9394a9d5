"""``prefmarket campaign create`` offers every term the API takes, with the fields' help."""

from __future__ import annotations

import click
import pytest
import typer
from typer.testing import CliRunner

from app import cli
from market import acquisition
from market.api.schemas import CampaignCreate
from market.client import MarketClient

runner = CliRunner()


@pytest.fixture
def via_test_client(monkeypatch, http):
    monkeypatch.setattr(cli, "_client", lambda url, token: MarketClient("http://testserver", token, transport=http))


def _create_command() -> click.Command:
    return typer.main.get_command(cli.app).commands["campaign"].commands["create"]


def test_the_options_are_the_create_schemas_fields_with_their_help():
    options = {p.name: p for p in _create_command().params if p.name not in ("url", "token")}
    assert set(options) == set(CampaignCreate.model_fields)
    for name, field in CampaignCreate.model_fields.items():
        assert options[name].opts == [f"--{name.replace('_', '-')}"]  # the README's names: --budget-cents, ...
        assert options[name].help == field.description and field.description
        assert options[name].required == (field.is_required() and name != "rule")


def test_quality_control_terms_reach_the_campaign(via_test_client, market):
    req = market.requester()
    out = runner.invoke(cli.app, [
        "campaign", "create", "--name", "qc", "--budget-cents", "900", "--max-price-cents", "30",
        "--acquisition", "wsharp", "--gold-rate", "0.25", "--min-gold-answers", "6", "--quality-bar", "0.7",
        "--quality-confidence", "0.9", "--probation-share", "0.5", "--gold-carry", "0.5", "--label-duration-s", "600",
        "--token", req.token,
    ])
    assert out.exit_code == 0, out.output
    c = req.list_campaigns()[0]
    assert (c["rule"], c["acquisition"], c["gold_rate"], c["min_gold_answers"], c["quality_bar"]) == (
        "budget_feasible", "wsharp", 0.25, 6, 0.7)
    assert (c["quality_confidence"], c["probation_share"], c["gold_carry"], c["label_duration_s"]) == (
        0.9, 0.5, 0.5, 600.0)
    assert (c["round_size"], c["round_budget_cents"], c["worker_id"]) == (50, None, None)  # the API's defaults


@pytest.mark.parametrize("args, field", [
    (["--acquisition", "shrap"], "acquisition"),
    (["--quality-bar", "0.7"], "quality_bar"),  # a bar needs gold checks
    (["--gold-rate", "1.5"], "gold_rate"),
])
def test_a_bad_term_is_an_error_that_says_what_to_fix(via_test_client, market, args, field):
    req = market.requester()
    out = runner.invoke(cli.app, ["campaign", "create", "--name", "x", "--budget-cents", "900",
                                  "--max-price-cents", "30", *args, "--token", req.token])
    assert out.exit_code == 1 and field in out.output and "Traceback" not in out.output, out.output
    if field == "acquisition":
        assert all(name in out.output for name in acquisition.METHODS)
    assert req.list_campaigns() == []
