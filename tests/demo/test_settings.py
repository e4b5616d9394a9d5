"""The demo's presets and options: what the user gives wins, impossible runs are refused early."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.demo.settings import PRESETS, DemoSettings, choose


def test_the_device_picks_the_preset_and_quick_overrides_it():
    assert choose(quick=False, device="cpu").preset == "cpu"
    assert choose(quick=False, device="cuda").preset == "gpu"
    assert choose(quick=True, device="cuda").preset == "quick"
    assert PRESETS["gpu"].budget_cents > PRESETS["cpu"].budget_cents  # a GPU buys more in the same time


def test_rounds_without_a_budget_keep_the_round_budget_and_grow_the_pool():
    base = PRESETS["cpu"]
    s = choose(quick=False, device="cpu", rounds=2 * base.rounds)
    assert s.round_budget_cents == base.round_budget_cents and s.budget_cents == 2 * base.budget_cents
    assert s.pool >= 1.5 * s.rounds * s.round_size
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
    code = ("import sys, app.cli, app.demo.run, app.demo.report, app.demo.campaign; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("bad, message", [
    (dict(spammers=1.0), "--spammers"),
    (dict(gold_items=1, min_gold_answers=3), "gold_items"),
    (dict(vet_once=True, quality=False), "--vet-once"),
])
def test_impossible_quality_settings_are_refused(bad, message):
    from dataclasses import replace

    with pytest.raises(ValueError, match=message):
        replace(PRESETS["cpu"], **bad).check()


def test_quality_control_can_be_turned_off_and_spammers_set():
    s = choose(quick=False, device="cpu", quality=False, spammers=0.3)
    assert (s.quality, s.spammers) == (False, 0.3)
    assert choose(quick=False, device="cpu").quality  # on by default
    assert not choose(quick=False, device="cpu").vet_once and choose(quick=True, device="cpu", vet_once=True).vet_once


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
