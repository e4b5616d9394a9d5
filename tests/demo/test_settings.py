"""The demo's presets and options: what the user gives wins, impossible runs are refused early."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.demo.settings import PRESETS, DemoSettings, choose, posted_price_cents


def test_the_device_picks_the_preset_and_quick_overrides_it():
    assert choose(quick=False, device="cpu").preset == "cpu"
    assert choose(quick=False, device="cuda").preset == "gpu"
    assert choose(quick=True, device="cuda").preset == "quick"
    assert PRESETS["gpu"].budget_cents > PRESETS["cpu"].budget_cents  # a GPU buys more in the same time


def test_rounds_without_a_budget_keep_the_round_budget_and_grow_the_pool():
    base = PRESETS["cpu"]
    s = choose(quick=False, device="cpu", rounds=2 * base.rounds)
    assert s.round_budget_cents == base.round_budget_cents and s.budget_cents == 2 * base.budget_cents
    assert s.pool >= 4 * s.rounds * s.round_size
    t = choose(quick=False, device="cpu", budget=50.0, rounds=5, rule="second_price", acquisition="random", seed=3)
    assert (t.budget_cents, t.rounds, t.rule, t.acquisition, t.seed) == (5000, 5, "second_price", "random", 3)


@pytest.mark.parametrize("bad, message", [
    (dict(rule="dutch"), "--rule"),
    (dict(acquisition="psychic"), "--acquisition"),
    (dict(budget=0.5), "--budget"),  # less than one label's maximum price per round
    (dict(rounds=0), "--rounds"),
])
def test_impossible_runs_are_refused_with_the_option_named(bad, message):
    with pytest.raises(ValueError, match=message):
        choose(quick=False, device="cpu", **bad)


def test_settings_survive_the_run_folder(tmp_path):
    s = choose(quick=True, device="cpu", model="tiny", seed=7)
    s.save(tmp_path / "settings.json")
    assert DemoSettings.load(tmp_path / "settings.json") == s


def test_the_demo_package_never_imports_torch():
    code = ("import sys, app.cli, app.demo.run, app.demo.report, app.demo.campaign, app.demo.paired; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("bad, message", [
    (dict(spammers=1.0), "--spammers"),
    (dict(gold_items=1, min_gold_answers=3), "gold_items"),
    (dict(twin=True, quality=False), "--twin"),
    (dict(pool=4 * 4 * 10 - 1), "4 times what a campaign"),  # the acquisition must have a choice
    (dict(judge="psychic"), "judge"),
    (dict(heldout_pairs=1), "heldout_pairs"),
])
def test_impossible_quality_settings_are_refused(bad, message):
    from dataclasses import replace

    with pytest.raises(ValueError, match=message):
        replace(PRESETS["cpu"], **bad).check()


def test_quality_control_can_be_turned_off_and_spammers_set():
    s = choose(quick=False, device="cpu", quality=False, spammers=0.3)
    assert (s.quality, s.spammers) == (False, 0.3)
    assert choose(quick=False, device="cpu").quality  # on by default
    assert not choose(quick=False, device="cpu").twin and choose(quick=True, device="cpu", twin=True).twin


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_pool_holds_four_times_what_a_campaign_can_buy(preset):
    s = PRESETS[preset]
    assert s.pool >= 4 * s.rounds * s.round_size and s.judge == "facets"


@pytest.mark.parametrize("gpu, asked, got", [(False, "auto", "cpu"), (True, "auto", "cuda"), (True, "cuda", "cuda"),
                                             (False, "cpu", "cpu"), (True, "cpu", "cpu")])
def test_the_device_resolves_to_what_torch_can_use(monkeypatch, gpu, asked, got):
    from app.demo import run

    monkeypatch.setattr(run, "torch_sees_a_gpu", lambda: gpu)
    assert run.resolve_device(asked) == got


def test_cuda_without_a_gpu_is_refused_not_run_on_the_cpu(monkeypatch):
    from app.demo import run

    monkeypatch.setattr(run, "torch_sees_a_gpu", lambda: False)
    with pytest.raises(ValueError, match="--device cuda: torch sees no GPU"):
        run.resolve_device("cuda")


def test_the_posted_price_is_the_median_cost_rounded_up_and_capped():
    assert posted_price_cents([0.10, 0.25, 0.40], cap_cents=60) == 25  # the median, not the mean
    assert posted_price_cents([0.10, 0.20, 0.25, 0.40], cap_cents=60) == 23  # even count: mid-point 22.5c, up
    assert posted_price_cents([0.2134, 0.30, 0.01], cap_cents=60) == 22  # up to a whole cent
    assert posted_price_cents([0.07], cap_cents=60) == 7 and posted_price_cents([0.57], cap_cents=60) == 57  # float fuzz
    assert posted_price_cents([0.80, 0.90, 1.20], cap_cents=60) == 60  # capped at the campaigns' max price
    assert posted_price_cents([0.001, 0.002], cap_cents=60) == 1  # at least a cent
    with pytest.raises(ValueError, match="no annotator costs"):
        posted_price_cents([], cap_cents=60)


def test_a_cost_at_the_posted_price_is_accepted_by_a_truthful_bot():
    """A bot asks its cost rounded up to a cent (bidders.bots): one at the median cost asks the price."""
    import math

    for cost in (0.07, 0.1234, 0.25, 0.29, 0.57):
        assert math.ceil(100.0 * cost - 1e-9) <= posted_price_cents([0.05, cost, 0.9], cap_cents=100)


def test_the_baseline_price_is_the_bots_median_cost_unless_given():
    from app.demo.run import baseline_price

    roster = [{"cost": c} for c in (0.12, 0.31, 0.18, 0.26, 0.24)]
    s = choose(quick=False, device="cpu")
    assert s.posted_price_cents is None and baseline_price(s, roster) == (24, "median cost")
    assert baseline_price(choose(quick=False, device="cpu", posted_price_cents=30), roster) == (30, "given")


def test_a_given_posted_price_is_recorded_with_the_settings(tmp_path):
    s = choose(quick=True, device="cpu", model="tiny", posted_price_cents=20)
    s.save(tmp_path / "settings.json")
    assert DemoSettings.load(tmp_path / "settings.json").posted_price_cents == 20
    old = {k: v for k, v in json.loads((tmp_path / "settings.json").read_text()).items() if k != "posted_price_cents"}
    (tmp_path / "settings.json").write_text(json.dumps(old))  # a run folder from before the option
    assert DemoSettings.load(tmp_path / "settings.json").posted_price_cents is None


@pytest.mark.parametrize("price", [0, -5, PRESETS["cpu"].max_price_cents + 1])
def test_a_posted_price_out_of_range_is_refused_with_the_option_named(price):
    with pytest.raises(ValueError, match="--posted-price-cents"):
        choose(quick=False, device="cpu", posted_price_cents=price)
    assert choose(quick=False, device="cpu", posted_price_cents=PRESETS["cpu"].max_price_cents).posted_price_cents


def test_the_cli_refuses_a_posted_price_out_of_range(tmp_path):
    from typer.testing import CliRunner

    from app.cli import app

    done = CliRunner().invoke(app, ["demo", "--quick", "--device", "cpu", "--posted-price-cents", "1000",
                                    "--out", str(tmp_path / "run")])
    assert done.exit_code == 1 and "--posted-price-cents" in done.output
    assert not (tmp_path / "run" / "state.json").exists()  # refused before anything started
