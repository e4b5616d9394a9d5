"""The acquisition lab: pairing, seed-level intervals, the coin-flip control, dollars, the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from app.experiments import lab, linear, report
from app.experiments.features import JUDGE, LOGGED, Inputs

torch.set_num_threads(1)

SMALL = lab.Settings(rounds=4, budget_rounds=2, per_round=10, dims=8, apl_f_pair=4, apl_f_prompt=2)


def synthetic(n: int = 300, d: int = 24, seed: int = 0, kind: str = LOGGED) -> Inputs:
    """Pairs whose truth is a linear function of the features' main directions: the lab's model can learn it."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(6, d))
    fa = (rng.normal(size=(n, 6)) @ basis + 0.3 * rng.normal(size=(n, d))).astype(np.float32)
    fb = (rng.normal(size=(n, 6)) @ basis + 0.3 * rng.normal(size=(n, d))).astype(np.float32)
    score = (fa - fb) @ basis.T @ rng.normal(size=6)
    truth = score / np.abs(score).max() if kind == JUDGE else (score > 0).astype(float)
    return Inputs(fa, fb, rng.normal(size=n) - 40, rng.normal(size=n) - 40, truth, kind)


# ----------------------------------------------------------------------------- pairing


@pytest.mark.parametrize("kind", [LOGGED, JUDGE])
def test_an_answer_belongs_to_the_seed_and_the_pair_whoever_buys_it(kind):
    inputs = synthetic(kind=kind)
    answers, coins, error = lab.annotator_answers(inputs, np.array([3, 7, 9, 40]), seed=5, gold=10)
    again, coins2, error2 = lab.annotator_answers(inputs, np.array([40, 9]), seed=5, gold=10)
    np.testing.assert_array_equal(again, answers[[3, 2]])
    np.testing.assert_array_equal(coins2, coins[[3, 2]])
    np.testing.assert_array_equal(error2, error[[3, 2]])
    other, _, _ = lab.annotator_answers(inputs, np.arange(300), seed=6, gold=10)
    mine, _, _ = lab.annotator_answers(inputs, np.arange(300), seed=5, gold=10)
    assert (other != mine).any()  # another seed, other annotators


def test_every_arm_gets_the_same_answer_to_the_same_pair():
    inputs = synthetic()
    s = lab.setup_seed(inputs, 0, SMALL)
    bought = {arm: lab.run_arm(s, arm, 0, SMALL)[1] for arm in lab.ARMS}
    # what each arm was told about each pair it bought: the pair (by index in the data set) -> answer
    told = {arm: dict(zip(s.pool_index[b], (s.coins if arm == lab.CONTROL else s.answers)[b])) for arm, b in bought.items()}
    shared = 0
    for arm in lab.ARMS:
        if arm == lab.CONTROL:
            continue
        for other in lab.ARMS:
            if other in (arm, lab.CONTROL):
                continue
            common = told[arm].keys() & told[other].keys()
            shared += len(common)
            assert all(told[arm][p] == told[other][p] for p in common)
    assert shared > 0
    # the control buys the baseline's pairs and only its answers differ
    np.testing.assert_array_equal(bought[lab.CONTROL], bought[lab.BASELINE])
    assert all(len(b) == SMALL.labels == len(set(b)) for b in bought.values())


def test_the_split_and_the_answers_are_shared_by_every_arm_of_a_seed():
    inputs = synthetic()
    a, b = lab.setup_seed(inputs, 3, SMALL), lab.setup_seed(inputs, 3, SMALL)
    np.testing.assert_array_equal(a.pool_index, b.pool_index)
    np.testing.assert_array_equal(a.answers, b.answers)
    pool, held = lab.split(300, 3, 1 / 3)
    assert len(held) == 100 and not set(pool) & set(held)
    assert set(lab.split(300, 4, 1 / 3)[1]) != set(held)  # seeds change which pairs are held out


# ----------------------------------------------------------------------------- intervals


def test_the_seed_level_interval_of_a_hand_computable_case():
    # three seeds, differences 0, 0 and 3: a resample's mean is the number k of 3s drawn,
    # k ~ Binomial(3, 1/3), so P(0) = 8/27 > 2.5% and P(3) = 1/27 > 2.5%: the interval is [0, 3]
    i = report.paired_interval(np.array([0.0, 0.0, 3.0]), np.zeros(3), report.mean_difference)
    assert (i.value, i.low, i.high) == (1.0, 0.0, 3.0)
    same = report.paired_interval(np.array([3.0, 5.0, 9.0]), np.array([1.0, 3.0, 7.0]), report.mean_difference)
    assert (same.value, same.low, same.high) == (2.0, 2.0, 2.0)


def test_two_seeds_get_no_interval_and_no_detectable_difference():
    # the bootstrap of two seeds can only span their two values: that is no interval, so none is given
    i = report.paired_interval(np.array([0.0, 1.0]), np.zeros(2), report.mean_difference)
    assert i.value == 0.5 and np.isnan(i.low) and np.isnan(i.high) and not i.excludes(0.0)
    assert report.interval_text(i, report.points) == "+0.5"
    assert np.isnan(report.min_detectable(np.array([1.0, 2.0])))


def test_the_t_interval_over_few_seeds_is_wider_than_the_bootstrap():
    t = report.t_interval(np.array([-1.0, 0.0, 1.0]))
    assert t.value == 0.0 and t.high == pytest.approx(4.302653 / np.sqrt(3)) and t.low == -t.high
    boot = report.paired_interval(np.array([-1.0, 0.0, 1.0]), np.zeros(3), report.mean_difference)
    assert (boot.low, boot.high) == (-1.0, 1.0)  # the bootstrap of three seeds: about 2.5 times narrower
    assert report.t_interval(np.array([2.0, 2.0, 2.0])) == report.Interval(2.0, 2.0, 2.0)
    assert np.isnan(report.t_interval(np.array([1.0, 2.0])).low)


def test_the_interval_over_seeds_and_pairs_adds_the_held_out_pairs_sampling():
    same = np.arange(100)
    # every pair of a seed moved alike: the pairs add nothing, and the interval is the seeds' t interval
    flat = report.crossed_interval([np.full(100, v) for v in (1.0, 3.0, 2.0)], [same] * 3)
    t = report.t_interval(np.array([1.0, 3.0, 2.0]))
    assert (flat.value, flat.low, flat.high) == pytest.approx((t.value, t.low, t.high))
    # seeds that agree on every pair: no seed spread, and the half-width is 1.96 standard errors over the pairs
    d = np.r_[np.full(55, 50.0), np.full(45, -50.0)]
    alike = report.crossed_interval([d, d, d], [same] * 3)
    assert alike.value == pytest.approx(5.0)
    assert alike.high - alike.value == pytest.approx(1.96 * d.std(ddof=1) / 10, rel=0.1)
    assert not alike.excludes(0.0)  # though every seed reads +5
    assert np.isnan(report.crossed_interval([d, d], [same] * 2).low)  # two seeds: none
    with pytest.raises(ValueError, match="differences for"):
        report.crossed_interval([d, d, d[:50]], [same] * 3)


def test_the_interval_is_paired_over_seeds():
    # seeds differ a lot, the arm is one point above the baseline on every seed: paired, that is certain
    base = np.random.default_rng(0).normal(50, 10, size=20)
    i = report.paired_interval(base + 1.0, base, report.mean_difference)
    assert i.low == pytest.approx(1.0) and i.high == pytest.approx(1.0)


def test_labels_to_reach_a_level_interpolate_on_the_curve():
    grid = np.array([0.0, 10, 20, 30])
    assert report.reach(grid, np.array([0.5, 0.6, 0.7, 0.8]), 0.65) == pytest.approx(15.0)
    assert report.reach(grid, np.array([0.5, 0.6, 0.7, 0.8]), 0.9) == float("inf")
    assert report.min_detectable(np.array([1.0, -1.0, 1.0, -1.0])) == pytest.approx(2.8016 * 1.1547 / 2, rel=1e-3)


# ----------------------------------------------------------------------------- the metric and its control


def test_coin_flip_labels_show_no_gain_where_real_labels_do():
    inputs = synthetic(n=400, seed=1)
    results = [lab.run_seed(inputs, seed, ("random", "coin_flip"), SMALL) for seed in range(20)]
    control = report.control_gain(results, "coin_flip", SMALL.budget_rounds)
    assert not control.excludes(0.0)
    learned = report.control_gain(results, "random", SMALL.budget_rounds)
    assert learned.low > 5.0  # points: the metric does move when the labels carry information


def test_the_fit_is_the_penalised_logistic_optimum_and_accuracy_counts_ties_half():
    rng = np.random.default_rng(0)
    D = rng.normal(size=(60, 5))
    y = rng.random(60) < 0.5 + 0.4 * np.tanh(D[:, 0])
    theta = linear.fit(D, y, lam=2.0)
    s = np.where(y, 1.0, -1.0)
    grad = -(D * s[:, None]).T @ (1 - 1 / (1 + np.exp(-(D @ theta) * s))) + 2.0 * theta
    np.testing.assert_allclose(grad, 0.0, atol=1e-8)
    assert linear.accuracy(np.zeros(5), D, y) == 0.5
    assert linear.accuracy(np.array([1.0, 0, 0, 0, 0]), np.array([[1.0, 0, 0, 0, 0], [-1.0, 0, 0, 0, 0]]),
                           np.array([True, True])) == 0.5


def test_the_projection_is_fitted_on_the_pool_and_scaled_to_unit_rms():
    X = np.random.default_rng(0).normal(size=(200, 10)) * np.arange(1, 11)
    p = linear.Projection.fit(X, 3)
    Z = p(X)
    np.testing.assert_allclose(np.sqrt((Z**2).mean(axis=0)), 1.0, rtol=1e-9)


# ----------------------------------------------------------------------------- dollars


def test_dollars_combine_labels_and_a_fixed_price_table():
    grid = [0, 10, 20, 30, 40]
    # the arm reaches the baseline's 20-label accuracy (0.7) at 10 labels, on every seed
    results = [{"labels": grid, "accuracy": {"random": [0.5, 0.6, 0.7, 0.75, 0.8],
                                             "sharp": [0.5, 0.7, 0.75, 0.8, 0.85]}} for _ in range(4)]
    prices = {"posted_median": np.full(4, 40.0), "cheap_rule": np.full(4, 20.0)}
    rows = {(r.rule, r.arm): r for r in report.dollar_rows(results, ["random", "sharp"], prices, 2, "random", "posted_median")}
    assert rows["posted_median", "random"].dollars_share.value == pytest.approx(1.0)
    assert rows["posted_median", "sharp"].dollars_share.value == pytest.approx(0.5)  # half the labels
    assert rows["cheap_rule", "random"].dollars_share.value == pytest.approx(0.5)  # half the price
    assert rows["cheap_rule", "sharp"].dollars_share.value == pytest.approx(0.25)
    # at the baseline's spend (20 labels at 40¢) the cheap rule buys 40 labels
    assert rows["cheap_rule", "random"].at_equal_spend.value == pytest.approx(10.0)
    assert rows["cheap_rule", "sharp"].at_equal_spend.value == pytest.approx(15.0)


# ----------------------------------------------------------------------------- the results file


def test_the_section_replaces_only_what_lies_between_its_markers(tmp_path):
    path = tmp_path / "results.md"
    path.write_text("# Results\n\nold run log\n\n<!-- price:begin -->\nprices\n<!-- price:end -->\n")
    report.replace_section(path, "first")
    report.replace_section(path, "second")
    text = path.read_text()
    assert text.startswith("# Results\n\nold run log\n") and "prices" in text
    assert text.count(report.BEGIN) == 1 and "second" in text and "first" not in text


# ----------------------------------------------------------------------------- the command


def hh_file(path: Path, n: int) -> Path:
    """An HH-shaped file: a shared transcript, then a helpful or a curt last reply."""
    rng = np.random.default_rng(0)
    good = ["Boil water and add the vegetables.", "Here is a safe way to do it.", "I can help: start with the plot."]
    bad = ["I will not help you.", "That is a stupid question.", "Go away and watch a movie."]
    rows = []
    for i in range(n):
        pre = f"\n\nHuman: how do I review movie number {i}?\n\nAssistant:"
        rows.append({"chosen": f"{pre} {good[rng.integers(3)]} ({i})", "rejected": f"{pre} {bad[rng.integers(3)]} [{i}]"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def cli(tmp_path, monkeypatch):
    from app.cli import app

    monkeypatch.setenv("PREFMARKET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PREFMARKET_TORCH_THREADS", "1")
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, ["experiment", "--model", "tiny", "--out", str(tmp_path / "docs" / "results.md"),
                                   "--plots", str(tmp_path / "docs" / "results"), "--workers", "1", *args])

    return run


def test_quick_experiment_writes_its_section_and_plots(cli, tmp_path):
    hh = hh_file(tmp_path / "hh.jsonl", 90)
    result = cli("--quick", "--hh", str(hh))
    assert result.exit_code == 0, result.output
    text = (tmp_path / "docs" / "results.md").read_text()
    assert text.count(report.BEGIN) == 1 and text.count(report.END) == 1
    for arm in lab.ARMS:
        assert f"| {arm} |" in text
    assert "HH harmless-base" in text and "movie-review task" in text and "Dollars per point" in text
    assert "| pricing | ¢/label | fill |" in text and "| posted_median |" in text
    assert "`prefmarket experiment --hh" in text and "--model tiny" in text and "--quick" in text
    assert {p.name for p in (tmp_path / "docs" / "results").iterdir()} == {
        "experiment-movie.png", "experiment-hh.png", "experiment-movie-dollars.png", "experiment-hh-dollars.png"}
    seeds = sorted((tmp_path / "home" / "experiments" / "results").rglob("seed-*.json"))
    assert len(seeds) == 6  # 3 seeds of each data set, one file each
    before = {p: p.stat().st_mtime for p in seeds}
    again = cli("--quick", "--hh", str(hh), "--datasets", "hh")
    assert again.exit_code == 0, again.output
    assert all(p.stat().st_mtime == t for p, t in before.items())  # resumed: nothing recomputed


@pytest.mark.parametrize(("args", "named"), [
    (["--arms", "random,sharpest"], "--arms"),
    (["--datasets", "movie,imdb"], "--datasets"),
    (["--price-supply", "thick"], "--price-supply"),
    (["--price-quality", "silver"], "--price-quality"),
    (["--hh", "missing.jsonl.gz", "--datasets", "hh"], "missing.jsonl.gz"),
    (["--per-round", "40", "--datasets", "hh"], "too few"),
    (["--seeds", "2"], "--seeds: at least 3"),
])
def test_bad_input_is_a_cli_error_and_writes_nothing(cli, tmp_path, args, named):
    hh = hh_file(tmp_path / "hh.jsonl", 90)
    result = cli("--quick", "--hh", str(hh), *args)
    assert result.exit_code == 1
    assert named in result.output and "Traceback" not in result.output
    assert not (tmp_path / "docs").exists() and not (tmp_path / "home" / "experiments").exists()


def test_a_file_without_logged_preferences_is_refused_by_name(cli, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"review film {i}"}) + "\n" for i in range(100)))
    result = cli("--quick", "--hh", str(prompts), "--datasets", "hh")
    assert result.exit_code == 1 and "prompts.jsonl" in result.output
