"""The one money formatter: cents in, dollars out, the same everywhere."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.money import usd


@pytest.mark.parametrize("cents, text", [
    (0, "$0.00"), (1, "$0.01"), (123, "$1.23"), (100_000, "$1,000.00"),
    (123_456_789, "$1,234,567.89"), (10**15 + 7, "$10,000,000,000,000.07"),
    (-5, "-$0.05"), (-123_456, "-$1,234.56"),
    (12.5, "$0.13"), (12.4999, "$0.12"), (-0.4, "$0.00"), (419.35, "$4.19"),
    (np.int64(2500), "$25.00"), (np.float64(99.5), "$1.00"),
])
def test_cents_read_as_dollars(cents, text):
    assert usd(cents) == text


@pytest.mark.parametrize("missing", [None, float("nan"), float("inf"), -float("inf")])
def test_a_missing_figure_reads_as_the_callers_placeholder(missing):
    assert usd(missing) == "-"
    assert usd(missing, none="—") == "—"


@given(st.integers(-10**12, 10**12))
def test_whole_cents_round_trip(cents):
    text = usd(cents)
    assert int(text.replace("$", "").replace(",", "").replace(".", "")) == cents
    assert text.startswith("-$") == (cents < 0)
