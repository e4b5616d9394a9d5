"""``app.experiments.hh_campaign`` (issue 20's real run) at toy size: the tiny model, a test-written HH file."""

from __future__ import annotations

import gzip
import json

import pytest
import torch

from app import cli
from app.experiments.hh_campaign import main, run
from policy.model import tiny_model

torch.set_num_threads(1)


def hh_file(path, n: int):
    rows = [{"chosen": f"\n\nHuman: film {i}?\n\nAssistant: a lovely film, {i}",
             "rejected": f"\n\nHuman: film {i}?\n\nAssistant: go away {i}"} for i in range(n)]
    with gzip.open(path, "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_the_campaign_buys_labels_by_the_log_and_prices_held_out_accuracy(tmp_path):
    own_client = cli._client
    model, tokenizer = tiny_model(seed=0)
    model.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    hh = hh_file(tmp_path / "hh.jsonl.gz", 40)
    result = run(hh, tmp_path / "run", model=str(tmp_path / "tiny"), held=10, rounds=1, round_size=9,
                 batch_size=4, grad_accum=1, say=lambda *a: None)
    assert result["labels"] > 0 and result["agree_with_log"] == pytest.approx(1.0)
    (evaluation,) = result["evaluations"]
    assert evaluation["metrics"]["heldout_n"] == 10 and evaluation["n"] == 0  # no judge, no win rate
    acc = result["accounting"]
    assert acc["metric"] == "heldout_accuracy" and acc["spent_cents"] == evaluation["spend_cents"] > 0
    assert acc["curve"][-1]["value"] == evaluation["metrics"]["heldout_accuracy"]
    assert json.loads((tmp_path / "run" / "result.json").read_text())["labels"] == result["labels"]
    assert cli._client is own_client  # the CLI reaches real servers again afterwards


def test_a_file_too_short_to_hold_out_is_a_usage_error(tmp_path, capsys):
    hh = hh_file(tmp_path / "hh.jsonl.gz", 5)
    with pytest.raises(SystemExit) as exit_:
        main(["--hh", str(hh), "--out", str(tmp_path / "run"), "--held", "10"])
    assert exit_.value.code == 2 and "hh.jsonl.gz: 5 lines" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
