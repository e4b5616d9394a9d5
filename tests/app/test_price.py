"""The price-per-label study: its result's shape and pairing, the hindsight price, thin
supply clearing at the cap and the reserve lowering it, and the command's outputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.experiments.price import (
    ARMS,
    FILL_TARGET,
    SECTION,
    VALUE,
    best_posted,
    main,
    price_per_label,
    round_prices,
    seed_arms,
    summarise_arms,
)
from app.experiments.report import replace_section


@pytest.fixture(scope="module")
def thin_gold():
    return price_per_label(3, supply="thin", quality="gold")


def test_every_arm_has_one_figure_per_seed(thin_gold):
    r = thin_gold
    assert set(r) == {*ARMS, "fill", "posted_price", "seeds"}
    assert r["seeds"].tolist() == [0, 1, 2]
    for arm in ARMS:
        assert r[arm].shape == (3,) and r["fill"][arm].shape == (3,)
        assert np.all((r["fill"][arm] >= 0) & (r["fill"][arm] <= 1))
        assert np.all(r[arm][np.isfinite(r[arm])] > 0)
    assert set(r["posted_price"]) == {"posted_median", "posted_hindsight"}
    assert np.all(r["posted_price"]["posted_hindsight"] <= VALUE)


def test_rows_are_seeds_whatever_the_count_or_processes(thin_gold):
    """Row i is seed i in every arm: the same figures from fewer seeds, from two worker
    processes, and from the seed run alone."""
    two = price_per_label(2, supply="thin", quality="gold", workers=2)
    one = seed_arms(1, "thin", "gold")
    for arm in ARMS:
        np.testing.assert_array_equal(two[arm], thin_gold[arm][:2])
        np.testing.assert_array_equal(two["fill"][arm], thin_gold["fill"][arm][:2])
        assert one[arm][0] == thin_gold[arm][1] or (np.isnan(one[arm][0]) and np.isnan(thin_gold[arm][1]))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 12))
def test_hindsight_price_is_never_worse_than_any_candidate(data, n):
    """Most fill up to the target first, then fewest cents: every candidate, the median
    guess among them, scores no better than the price chosen."""
    prices = np.arange(1, n + 1) / 100
    fill = np.array(data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    cents = np.array(data.draw(st.lists(st.one_of(st.floats(1, 500), st.just(np.nan)), min_size=n, max_size=n)))
    j = best_posted(prices, cents, fill)
    need = FILL_TARGET * fill.max()
    cost = np.where(np.isnan(cents), np.inf, cents)
    for i in range(n):
        assert min(fill[j], need) >= min(fill[i], need)
        if min(fill[j], need) == min(fill[i], need):
            assert cost[j] <= cost[i]


def test_hindsight_beats_the_median_guess_on_a_campaign():
    r = price_per_label(2, supply="normal", quality="none", rounds=30)
    fm, fh = r["fill"]["posted_median"], r["fill"]["posted_hindsight"]
    assert np.all(fh >= FILL_TARGET * fm)
    no_more = fh <= fm  # where the hindsight price fills no more, it must cost no more
    assert np.all(r["posted_hindsight"][no_more] <= r["posted_median"][no_more])


def test_thin_supply_clears_at_the_cap_and_the_reserve_lowers_it(thin_gold):
    """A new campaign with gold checks: everyone on probation, nobody competes for the last
    unit, so the budget-feasible rule pays the 50¢ cap where its twin without gold checks
    pays what the next annotator asks; the reserve, from round 2 on (round 1 has no
    history), pays far less, and so costs less per correct label. Work won on probation is
    held until the annotator's gold test ends, so the first rounds pay nothing yet, and a
    round's price is what it paid per label, held work from earlier rounds included."""
    cap = 100 * VALUE
    plain = np.array(round_prices(0, "thin", "gold", "budget_feasible", reserve=False))
    reserved = np.array(round_prices(0, "thin", "gold", "budget_feasible", reserve=True))
    twin = round_prices(0, "thin", "none", "budget_feasible", reserve=False)
    paid = ~np.isnan(plain)
    assert paid.sum() >= 3 and np.isnan(plain[0])  # round 1: everyone on probation, all of it held
    assert plain[paid] == pytest.approx([cap] * paid.sum())
    assert max(twin) < 0.6 * cap
    later = ~np.isnan(reserved)
    assert later.sum() >= 3 and np.all(reserved[later] < cap) and max(reserved[later][1:]) < 0.7 * cap
    assert np.all(thin_gold["budget_feasible_reserve"] < thin_gold["budget_feasible"])


def test_summary_differences_are_paired():
    """Arms far apart between seeds but close within each: the paired interval of the
    difference is tight, and zero against itself."""
    base = np.random.default_rng(1).normal(30, 8, 20)
    noise = np.random.default_rng(2).normal(0, 0.2, 20)
    result = {arm: base + 2 + noise for arm in ARMS} | {"posted_median": base}
    result["fill"] = {arm: np.full(20, 0.5) for arm in ARMS}
    rows = {r["arm"]: r for r in summarise_arms(result)}
    low, high = rows["second_price"]["diff_ci"]
    assert low < 2 < high and high - low < 0.5
    assert rows["posted_median"]["diff_ci"] == (0.0, 0.0)
    assert rows["second_price"]["cents_ci"][1] - rows["second_price"]["cents_ci"][0] > 3


def test_section_replaces_only_its_markers(tmp_path):
    path = tmp_path / "results.md"
    path.write_text("# Results\n\nsomeone else's\n")
    replace_section(path, "first", SECTION)
    replace_section(path, "second", SECTION)
    text = path.read_text()
    assert text.startswith("# Results\n\nsomeone else's\n")
    assert text.count("<!-- price:begin -->") == 1 and "second" in text and "first" not in text
    path.write_text(text + "\n<!-- other:begin -->\nkept\n<!-- other:end -->\n")
    replace_section(path, "third", SECTION)
    assert "kept" in path.read_text() and "third" in path.read_text()


def test_bad_input_says_what_to_fix(capsys):
    with pytest.raises(ValueError, match="seeds"):
        price_per_label(0)
    with pytest.raises(ValueError, match="supply"):
        price_per_label(1, supply="sparse")
    with pytest.raises(ValueError, match="quality"):
        price_per_label(1, quality="judged")
    with pytest.raises(SystemExit):
        main(["--seeds", "1"])
    assert "--seeds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--results", "/nonexistent/dir/results.md"])
    assert "--results" in capsys.readouterr().err
