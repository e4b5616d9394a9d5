"""The ``dpo`` fidelity of ``prefmarket experiment``: pairing, resume, the report, and bad input."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from app.experiments import dpo, lab, report
from tests.app.test_experiment_lab import hh_file

torch.set_num_threads(1)


@pytest.fixture
def cli(tmp_path, monkeypatch):
    from app.cli import app

    monkeypatch.setenv("PREFMARKET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PREFMARKET_TORCH_THREADS", "1")
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, ["experiment", "--fidelity", "dpo", "--model", "tiny", "--workers", "1",
                                   "--out", str(tmp_path / "docs" / "results.md"),
                                   "--plots", str(tmp_path / "docs" / "results"), *args])

    return run


def arm_files(tmp_path):
    """The result files lie beside the plots (they are committed with the report), not in the caches' home."""
    assert not (tmp_path / "home" / "experiments" / "dpo" / "results").exists()
    return sorted((tmp_path / "docs" / "results" / "dpo").rglob("seed-*.json"))


def test_quick_dpo_runs_pairs_the_arms_resumes_and_reports(cli, tmp_path):
    hh = hh_file(tmp_path / "hh.jsonl", 60)
    result = cli("--quick", "--hh", str(hh))
    assert result.exit_code == 0, result.output
    files = arm_files(tmp_path)
    assert len(files) == 2 * 2 * 4  # 2 data sets x 2 seeds x 4 arms, one file each
    runs = [json.loads(p.read_text()) for p in files]
    for r in runs:
        assert len(r["accuracy"]) == dpo.QUICK.rounds + 1 and r["accuracy"][0] == 0.5
        assert len(r["bought"]) == len(set(r["bought"])) == dpo.QUICK.labels
        assert all(0.0 <= a <= 1.0 for a in r["accuracy"])
        assert ("win_rate" in r) == (r["dataset"] == "movie")
        assert len(r["train_loss"]) == dpo.QUICK.rounds and r["settings"]["schedule"] == dpo.QUICK.schedule
        assert r["settings"] == {**r["settings"], "preset": "cpu", "rounds": dpo.QUICK.rounds, "tuning": dpo.QUICK.tuning}
        # per held-out pair and round: the margin and its agreement with the truth, which give the accuracy
        held, right = r["held_pairs"], np.array(r["held_agreement"])
        assert len(held) == len(set(held)) == r["held_out"] and not set(held) & set(r["bought"])
        assert right.shape == np.shape(r["held_margins"]) == (dpo.QUICK.rounds, len(held))
        assert set(right.ravel()) <= {0.0, 0.5, 1.0} and np.allclose(right.mean(axis=1), r["accuracy"][1:])
        assert np.array_equal(right == 0.5, np.array(r["held_margins"]) == 0.0)
    by = {(r["dataset"], r["seed"], r["arm"]): r for r in runs}
    for d in ("movie", "hh"):
        assert set(dpo.DEFAULT_ARMS[d]) == {arm for (dd, _, arm) in by if dd == d}
        for seed in (0, 1):
            # the control buys random's pairs (same stream), with coin answers instead of the annotators'
            assert by[(d, seed, "coin_flip")]["bought"] == by[(d, seed, "random")]["bought"]
        assert by[(d, 0, "random")]["bought"] != by[(d, 1, "random")]["bought"]
    for seed in (0, 1):  # the same eval prompts and reference completions: one win-rate row per prompt
        assert len(by[("movie", seed, "random")]["win_per_prompt"]) == dpo.QUICK.win_prompts
    text = (tmp_path / "docs" / "results.md").read_text()
    assert text.count("<!-- experiment-dpo:begin -->") == 1 and "`dpo` fidelity" in text
    assert "| noise_aware |" in text and "| adpo |" in text and "| sharp |" in text and "win rate vs reference" in text
    assert "last round's train loss" in text and "continue** schedule" in text and "12 held out per seed" in text
    assert "This section is the `cpu` preset" in text and "The `gpu` preset (6 rounds of 16 labels" in text
    assert "--fidelity dpo" in text and "2 of 2 seeds finished" in text
    assert all(r["machine"].endswith("1 worker(s)") and "CPU cores" in r["machine"] for r in runs)
    assert text.count(f"ran on {runs[0]['machine']}") == 2  # each data set's block says where its arms ran
    # two seeds: means only, no seed-level interval and no verdict on the control
    assert text.count("Fewer than 3 seeds are finished") == 2 and "no verdict yet" in text
    assert "metric passes" not in text and "metric is wrong" not in text and "(t: [" not in text
    assert text.count("The same control moves the win rate against the reference") == 1  # movie only
    assert text.count('the rule "prefer the shorter reply"') == 1  # HH only: its file is readable here
    assert {p.name for p in (tmp_path / "docs" / "results").iterdir()} == {"experiment-dpo-movie.png",
                                                                           "experiment-dpo-hh.png", "dpo"}
    before = {p: p.stat().st_mtime_ns for p in files}
    again = cli("--quick", "--hh", str(hh))
    assert again.exit_code == 0, again.output
    assert {p: p.stat().st_mtime_ns for p in arm_files(tmp_path)} == before  # resumed: no arm ran again
    pilot = dpo.pilot_path(dpo.Options.make(quick=True, plots=tmp_path / "docs" / "results"), "movie")
    run = lambda right: [{"acc": 0.5, "loss": 0.5, "right": right, "train_s": 1.0}]  # as many right, on other pairs
    pilot.write_text(json.dumps({"keep2_5e-4/perfect": run([1.0, 0.0] * 20), "keep2_5e-4/coin": run([0.0, 1.0] * 20)}))
    more = cli("--quick", "--hh", str(hh), "--seeds", "3", "--report-only")
    assert more.exit_code == 0 and arm_files(tmp_path) == files  # report only: nothing ran
    text = (tmp_path / "docs" / "results.md").read_text()
    assert "Recipe pilot (movie)" in text and "does not reliably tell perfect labels from coin flips" in text
    resume = text.split("1 pending (seeds 2): resume with `")[1].split("`")[0]
    assert "--fidelity dpo" in resume and "--seeds 3" in resume and "--report-only" not in resume
    next(p for p in files if "hh-" in str(p.parent) and p.name == "seed-0001-adpo.json").unlink()
    assert cli("--quick", "--hh", str(hh), "--report-only").exit_code == 0
    hh_text = (tmp_path / "docs" / "results.md").read_text().split("HH harmless-base")[-1]
    assert "1 of 2 seeds finished (seeds 0)" in hh_text and "seed 1 `random`" in hh_text  # unpaired, listed apart

    # one data set's run rewrites its own block and keeps the others (and a pilot whose file is not here) as published
    out = tmp_path / "docs" / "results.md"
    hh_block, pilot_block = report.section_block(out, "experiment-dpo-hh"), report.section_block(out, "experiment-dpo-pilot")
    assert "1 of 2 seeds finished" in hh_block and "Recipe pilot (movie)" in pilot_block
    pilot.unlink()
    next(p for p in files if "movie-" in str(p.parent) and p.name == "seed-0001-sharp.json").unlink()
    # HH's arms only partly rerun (seed 1's adpo already gone): no seed to tabulate, so its published block stays
    next(p for p in files if "hh-" in str(p.parent) and p.name == "seed-0000-adpo.json").unlink()
    said = cli("--quick", "--report-only")
    assert said.exit_code == 0 and "no hh seed has every arm" in " ".join(said.output.split())
    assert "kept as it was" in " ".join(said.output.split())
    assert report.section_block(out, "experiment-dpo-hh") == hh_block
    assert report.section_block(out, "experiment-dpo-pilot") == pilot_block
    movie_block = report.section_block(out, "experiment-dpo-movie")
    assert "1 of 2 seeds finished (seeds 0)" in movie_block and "seed 1 `random`" in movie_block
    assert out.read_text().count("<!-- experiment-dpo-hh:begin -->") == 1


def test_every_arm_of_a_seed_sees_the_same_split_and_answers():
    """The answers come from the linear lab's draw keyed on (seed, pair): an arm cannot change them."""
    from app.experiments.features import LOGGED

    truth = (np.arange(200) % 3 == 0).astype(float)
    data = dpo.Data("hh", ["p"] * 200, ["a"] * 200, ["b"] * 200, dpo._truth_only(truth, LOGGED),
                    np.arange(0, 200, 2), "")
    s = dpo.Settings(pool=40, held_out=30, rounds=2, per_round=10)
    one, two = dpo.split_seed(data, 3, s), dpo.split_seed(data, 3, s)
    assert np.array_equal(one.pool, two.pool) and np.array_equal(one.answers, two.answers)
    assert len(one.pool) == 40 and len(one.held) == 30 and not set(one.pool) & set(one.held)
    assert set(one.pool) | set(one.held) <= set(data.usable)
    answers, coins, _ = lab.annotator_answers(data.inputs, one.pool, 3, s.gold)
    assert np.array_equal(answers, one.answers) and np.array_equal(coins, one.coins)
    assert not np.array_equal(dpo.split_seed(data, 4, s).held, one.held)


@pytest.mark.parametrize(("args", "named"), [
    (["--preset", "tpu"], "--preset"),
    (["--arms", "random,apl"], "--arms"),
    (["--arms", "sharp,coin_flip"], "'random'"),
    (["--datasets", "imdb"], "--datasets"),
    (["--per-round", "40"], "--per-round"),
])
def test_bad_input_is_a_cli_error_and_writes_nothing(cli, tmp_path, args, named):
    hh = hh_file(tmp_path / "hh.jsonl", 60)
    result = cli("--quick", "--hh", str(hh), *args)
    assert result.exit_code == 1
    assert named in result.output and "Traceback" not in result.output
    assert not (tmp_path / "docs").exists() and not (tmp_path / "home" / "experiments" / "dpo").exists()


def test_report_only_without_finished_arms_refuses_and_keeps_the_report(cli, tmp_path):
    """A fresh clone without the result files must not rewrite the published section as empty."""
    hh = hh_file(tmp_path / "hh.jsonl", 60)
    out = tmp_path / "docs" / "results.md"
    out.parent.mkdir()
    out.write_text("# Results\n\n<!-- experiment-dpo:begin -->\nmeasured figures\n<!-- experiment-dpo:end -->\n")
    before = out.read_text()
    result = cli("--quick", "--hh", str(hh), "--report-only")
    assert result.exit_code == 1 and "--report-only" in result.output and "no seed with every arm" in result.output
    assert "Traceback" not in result.output and out.read_text() == before
    assert not (tmp_path / "docs" / "results" / "dpo").exists()


def test_each_preset_reports_in_its_own_section_plots_and_pilot_file(cli, tmp_path):
    """The gpu preset measures other sizes: its figures get their own section of results.md, plots and pilot
    file, and writing them leaves the cpu preset's section byte for byte as it was."""
    hh = hh_file(tmp_path / "hh.jsonl", 60)
    small = ("--quick", "--hh", str(hh), "--datasets", "movie", "--seeds", "1", "--arms", "random,coin_flip")
    assert cli(*small).exit_code == 0
    out = tmp_path / "docs" / "results.md"
    cpu = report.section_block(out, "experiment-dpo")
    result = cli(*small, "--preset", "gpu")
    assert result.exit_code == 0, result.output
    assert report.section_block(out, "experiment-dpo") == cpu and "`cpu` preset)" in cpu
    gpu = report.section_block(out, "experiment-dpo-gpu")
    assert "`gpu` preset)" in gpu and "This section is the `gpu` preset" in gpu and "has its own section" in gpu
    assert report.section_block(out, "experiment-dpo-gpu-movie") in gpu and "experiment-dpo-gpu-movie.png" in gpu
    plots = tmp_path / "docs" / "results"
    assert {p.name for p in plots.glob("*.png")} == {"experiment-dpo-movie.png", "experiment-dpo-gpu-movie.png"}
    assert sorted(p.name.split("-")[-2] for p in (plots / "dpo").iterdir()) == ["cpu", "gpu"]
    opts = dpo.Options.make(quick=True, plots=plots)
    assert dpo.pilot_path(opts, "movie") != dpo.pilot_path(replace(opts, preset="gpu"), "movie")


def test_an_unknown_fidelity_is_named(tmp_path, monkeypatch):
    from app.cli import app

    monkeypatch.setenv("PREFMARKET_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["experiment", "--fidelity", "full", "--out", str(tmp_path / "r.md")])
    assert result.exit_code == 1 and "--fidelity" in result.output and "linear, dpo" in result.output
    assert not (tmp_path / "r.md").exists()


def test_results_of_other_settings_are_set_aside_not_pooled(tmp_path):
    """A preset's figures come only from files recording its settings: earlier definitions of the preset, and files
    recording other settings (or none), are moved to superseded/ with a message, never deleted or reported."""
    opts = dpo.Options.make(preset="cpu", plots=tmp_path, datasets=["movie"], seeds=1)
    here = dpo.results_folder(opts, "movie")
    old = here.parent / "movie-SmolLM2-135M-Instruct-cpu-000000000000"  # the preset as it was defined before
    other = here.parent / "hh-SmolLM2-135M-Instruct-cpu-000000000000"  # another data set: not this call's business
    for folder in (old, other):
        folder.mkdir(parents=True)
        (folder / "seed-0000-random.json").write_text("{}")
    here.mkdir(parents=True)
    (here / "seed-0000-random.json").write_text(json.dumps({"settings": dpo.recorded(opts)}))
    (here / "seed-0000-sharp.json").write_text(json.dumps({"accuracy": [0.5]}))  # written before files recorded them
    changed = dpo.recorded(dpo.with_settings(opts, per_round=5))
    (here / "seed-0000-coin_flip.json").write_text(json.dumps({"settings": changed}))
    said = []
    moved = dpo.set_aside(opts, "movie", said.append)
    aside = tmp_path / "dpo" / "superseded"
    assert sorted(moved) == sorted([aside / old.name, aside / here.name / "seed-0000-sharp.json",
                                    aside / here.name / "seed-0000-coin_flip.json"])
    assert all(p.exists() for p in moved) and not old.exists() and other.exists()
    assert [p.name for p in here.iterdir()] == ["seed-0000-random.json"]
    assert len(said) == 3 and all("not reported with these" in s and "'cpu'" in s for s in said)
    assert dpo.set_aside(opts, "movie", said.append) == []  # nothing left to move: idempotent

    tweaked = dpo.with_settings(opts, per_round=5)  # a customised run leaves the preset's own folders alone
    (dpo.results_folder(tweaked, "movie")).mkdir(parents=True)
    assert dpo.set_aside(tweaked, "movie", said.append) == [] and here.exists()


def test_the_tuning_pairs_are_in_no_seed():
    """The pairs the recipe was chosen on (the pilot's data set's) are never bought or held out by a reported seed;
    held-out pairs are what is left after the pool, up to the preset's number."""
    from app.experiments.features import JUDGE

    data = dpo.Data("movie", ["p"] * 300, ["a"] * 300, ["b"] * 300, dpo._truth_only(np.arange(300) % 2, JUDGE),
                    np.arange(300), "")
    s = dpo.Settings(pool=40, held_out=100, tuning=128, rounds=2, per_round=10)
    tuning = set(dpo.tuning_pairs(data, s))
    assert len(tuning) == 128 and tuning <= set(range(300))
    for seed in range(5):
        split = dpo.split_seed(data, seed, s)
        assert not tuning & (set(split.pool) | set(split.held)) and len(split.held) == 100 and len(split.pool) == 40
    few = dpo.split_seed(data, 0, replace(s, held_out=500))  # at most: what the pool and tuning pairs leave
    assert len(few.held) == 300 - 128 - 40 and not tuning & set(few.held)
    hh = replace(data, name="hh")  # the pilot ran on movie: HH gives up no pairs
    assert len(dpo.tuning_pairs(hh, s)) == 0 and len(dpo.split_seed(hh, 0, replace(s, held_out=500)).held) == 260
    with pytest.raises(ValueError, match="tuning"):
        s.check("movie", 190)  # 40 in the pool + 32 held out at least + 128 set apart
    s.check("hh", 190)


def test_the_pilot_summary_reads_perfect_against_coin_and_the_detectable_difference():
    """Perfect labels right on every scored pair, coin flips on half: +50 points; the detectable difference shrinks
    as 1/sqrt(held-out pairs x seeds) and is 2.80 x the per-pair spread there."""
    run = lambda right: [{"acc": float(np.mean(right)), "loss": 0.5, "right": right, "train_s": 10.0}]
    results = {"keep2_5e-4/perfect": run([1.0] * 80), "keep2_5e-4/coin": run([1.0, 0.0] * 40),
               "retrain1_5e-4/perfect": run([1.0] * 80)}  # no coin run yet: left out
    rows, mdd, gaps = dpo.pilot_summary(results, held_out=200, seeds=3)
    gap = gaps["keep2_5e-4"]  # right on 40 more of 80 pairs: +50 points, its interval paired over the pairs
    assert list(gaps) == ["keep2_5e-4"] and gap.value == pytest.approx(50.0) and 35 < gap.low < 50 < gap.high < 65
    assert len(rows) == 1 and "continue, lr 0.0005, 2 epoch(s)" in rows[0] and "| +50.0 [" in rows[0]
    spread = np.std([0.0, 1.0] * 40, ddof=1)
    assert mdd == pytest.approx(100 * 2.801585 * spread / np.sqrt(600), rel=1e-4)
    assert dpo.pilot_summary(results, held_out=800, seeds=3)[1] == pytest.approx(mdd / 2)
    assert np.isnan(dpo.pilot_summary({}, held_out=200)[1])


@pytest.mark.parametrize("preset", sorted(dpo.PRESETS))
def test_every_preset_fits_the_data_it_runs_on(preset):
    """A preset that cannot run (too big a pool for the movie prompts, more win-rate prompts than the
    eval split) would only fail hours into a sweep; CI has no GPU, so this is the gpu preset's check there.
    HH's usable pairs depend on the file and the token limits; a short file is refused at load."""
    from task import prompts as task

    opts = dpo.Options.make(preset=preset)
    dpo.check(opts)
    s = opts.settings
    s.check("movie", opts.movie_prompts)
    assert s.pool >= 2 * s.labels and s.held_out >= dpo.MIN_HELD_OUT
    assert len(task.prompts("eval", s.win_prompts, seed=0)) == s.win_prompts >= 256  # the floor


def test_the_control_verdict_needs_both_seed_intervals_to_exclude_zero():
    # per-seed moves (points) of the coin-flip control from the untrained policy's 50%
    assert "no verdict" in dpo._control_verdict(np.array([13.6, 13.6]))  # two seeds: no interval
    assert "metric is wrong" in dpo._control_verdict(np.array([3.0, 3.5, 1.5]))  # t: [+0.1, +5.3]
    # every seed above 0, so the bootstrap excludes it, but the spread is wide: t holds 0 ([-9.9, +30.4])
    moved = np.array([7.8, 19.3, 3.7])
    assert report.paired_interval(moved, np.zeros(3), report.mean_difference).excludes(0.0)
    assert "no gain shown" in dpo._control_verdict(moved)
    assert "no gain shown" in dpo._control_verdict(np.array([1.0, -2.0, 0.5]))


def test_the_information_line_reads_real_labels_against_coin_flips_on_the_same_pairs():
    def results(real, coin):
        return [{"accuracy": {"random": [0.5, r], "coin_flip": [0.5, c]}} for r, c in zip(real, coin)]

    assert "information shows" in dpo._information_line(results([0.57, 0.56, 0.545], [0.53, 0.535, 0.515]), 1)
    assert "does not show" in dpo._information_line(results([0.494, 0.5, 0.466], [0.506, 0.517, 0.477]), 1)
    assert "no verdict" in dpo._information_line(results([0.6, 0.6], [0.5, 0.5]), 1)


def held_results(seeds: list[dict[str, dict | None]]) -> list[dict]:
    """``finished``'s per-seed records, reduced to the per-pair fields the report reads."""
    return [{"seed": i, "held": {arm: None if h is None else {k: np.asarray(v) for k, v in h.items()}
                                 for arm, h in held.items()}} for i, held in enumerate(seeds)]


def test_the_control_reads_no_gain_where_the_held_out_pairs_explain_it():
    # the movie control's shape on 2026-12-04: three seeds of coin flips 53.0%, 53.5%, 51.5% on the same 200
    # held-out pairs, moved alike in every seed. The seed-level intervals exclude 0; the pairs' own sampling
    # (a lift of 1.5-3.5 points on 200 pairs with agreement 0 or 1 is within one standard error) does not
    pairs = np.arange(200)
    base = np.r_[np.ones(103), np.zeros(97)]  # 51.5%

    def seed(flips):
        right = base.copy()
        right[103:103 + flips] = 1.0
        return {"coin_flip": {"pairs": pairs, "agreement": right, "margins": 2 * right - 1}}

    results = held_results([seed(3), seed(4), seed(0)])
    moved = np.array([3.0, 3.5, 1.5])
    crossed = dpo.held_interval(results, "coin_flip", None)
    assert crossed.value == pytest.approx(moved.mean())
    assert report.t_interval(moved).excludes(0.0) and not crossed.excludes(0.0)
    assert "metric is wrong" in dpo._control_verdict(moved)  # the seeds alone
    said = dpo._control_verdict(moved, crossed)
    assert "no gain shown" in said and "only by the interval over seeds and pairs" in said
    assert "only by" not in dpo._control_verdict(np.array([1.0, -2.0, 0.5]), crossed)  # no interval excludes 0
    assert dpo.margin_correlation(results, "coin_flip") > 0.9  # moved alike: a side effect, not the labels
    assert dpo.SIDE_EFFECT_TEXT[True].startswith("training moves those pairs alike")


def test_the_length_line_sets_the_shorter_reply_rule_beside_each_arms_lean():
    a_minus_b = np.array([-5, 3, 0, -2])  # pair 2 is a tie in length
    a_wins = np.array([True, False, True, False])  # the rule is right on 0 and 1, half on 2, wrong on 3: 62.5%
    pairs = np.arange(4)
    held = {"random": {"pairs": pairs, "margins": np.array([1.0, -1.0, 1.0, 1.0])},  # shorter on 0, 1, 3
            "coin_flip": {"pairs": pairs, "margins": np.array([-1.0, 0.0, 0.0, 1.0])}}  # longer on 0, shorter on 3
    results = [{"held": held, "accuracy": {"random": [0.5, 0.5], "coin_flip": [0.5, 0.5]}}]
    line = dpo._length_line(results, ["random", "coin_flip"], a_minus_b, a_wins)
    assert "scores 62.5%" in line and "at least what `random` does, 50.0%" in line
    assert "`random` 100%, `coin_flip` 50%" in line
    results[0]["accuracy"]["random"][-1] = 0.7
    assert "(below `random`, 70.0%)" in dpo._length_line(results, ["random", "coin_flip"], a_minus_b, a_wins)
    old = [{"held": {"random": held["random"], "coin_flip": None}, "accuracy": results[0]["accuracy"]}]
    assert dpo._length_line(old, ["random", "coin_flip"], a_minus_b, a_wins) == ""  # files without per-pair records


def test_held_out_intervals_pair_arms_on_the_same_pairs_and_skip_old_files():
    rng = np.random.default_rng(0)
    pairs = [np.sort(rng.permutation(300)[:200]) for _ in range(3)]

    def arm(p, right):
        return {"pairs": p, "agreement": right, "margins": rng.normal(size=len(p))}

    results = held_results([{"random": arm(p, np.ones(len(p))), "sharp": arm(p, np.r_[np.ones(150), np.zeros(50)])}
                            for p in pairs])
    diff = dpo.held_interval(results, "sharp", "random")
    assert diff.value == pytest.approx(-25.0) and diff.excludes(0.0)
    assert abs(dpo.margin_correlation(results, "random")) < 0.2  # margins drawn apart in each seed
    results[1]["held"]["sharp"] = None  # a file written before per-pair records
    assert dpo.held_interval(results, "sharp", "random") is None and dpo.margin_correlation(results, "sharp") is None
    results[1]["held"]["sharp"] = arm(pairs[0], np.ones(200))
    with pytest.raises(ValueError, match="different held-out pairs"):
        dpo.held_interval(results, "sharp", "random")
