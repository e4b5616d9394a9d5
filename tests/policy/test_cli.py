"""``prefmarket worker``: light to import, clear errors for a bad model or an unreachable market."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from policy.cli import app


def test_importing_the_cli_does_not_import_torch():
    code = "import sys, policy.cli; print('torch' in sys.modules or 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_worker_help_lists_the_options():
    result = CliRunner().invoke(app, ["worker", "--help"])
    assert result.exit_code == 0
    for option in ("--campaign", "--lora", "--schedule", "--acquisition", "--quality", "--once"):
        assert option in result.output


def test_a_missing_model_path_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(
        app, ["worker", "--campaign", "1", "--model", str(tmp_path / "nope"), "--workdir", str(tmp_path / "w"), "--once"]
    )
    assert result.exit_code == 2 and "does not exist" in " ".join(result.output.split())


def test_an_unreachable_market_is_a_clear_error(tiny, tmp_path):
    m, tok = tiny
    m.save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    result = CliRunner().invoke(
        app,
        ["worker", "--campaign", "1", "--url", "http://127.0.0.1:9", "--model", str(tmp_path / "tiny"),
         "--workdir", str(tmp_path / "w"), "--once", "--eval-prompts", "2"],
    )
    assert result.exit_code == 1 and "the market answered 0" in " ".join(result.output.split())


def test_quality_defaults_to_the_market_posterior_and_an_unknown_value_is_a_clear_error(tmp_path):
    help_text = " ".join(CliRunner().invoke(app, ["worker", "--help"]).output.replace("│", " ").split())
    assert "market: the export's posterior weight" in help_text and "[default: market]" in help_text
    result = CliRunner().invoke(
        app, ["worker", "--campaign", "1", "--quality", "magic", "--workdir", str(tmp_path / "w"), "--once"]
    )
    out = " ".join(result.output.split())
    assert result.exit_code == 2 and "quality must be one of market, confidence, facet, none (got 'magic')" in out


def test_every_recipe_field_is_an_option_with_its_default_and_help():
    """The recipe's options are derived from ``RecipeFields``: each field is in ``--help``
    with its own help and default, on one line (a wide terminal keeps rows unwrapped);
    the fields the worker sets each round are named with the option that sets them."""
    from dataclasses import fields

    from policy.recipe import RecipeFields

    result = CliRunner().invoke(app, ["worker", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    rows = result.output.splitlines()
    text = " ".join(result.output.split())
    for f in fields(RecipeFields):
        if "set_by" in f.metadata:
            assert f"{f.name} from {f.metadata['set_by']}" in text
            continue
        flag = f.metadata.get("flags", (f"--{f.name.replace('_', '-')}",))[0].split("/")[0]
        [row] = [r for r in rows if f"│ {flag} " in r or f"│ {flag}," in r]
        assert f.metadata["help"] in row
        if f.default is not None:
            default = f.default
            if isinstance(f.default, bool):  # typer shows a switch's default as the flag that is on
                on, off = f.metadata.get("flags", (f"--{f.name.replace('_', '-')}/--no-{f.name.replace('_', '-')}",))[0].split("/")
                default = (on if f.default else off).lstrip("-")
            assert f"[default: {default}]" in row, row


def test_recipe_options_reach_the_recipe_and_a_bad_one_is_a_clear_error(tmp_path, monkeypatch):
    import policy.worker

    seen = {}

    class Stop(Exception):
        pass

    def capture(self, client, cfg, progress=False):
        seen["recipe"], seen["sampling_seed"] = cfg.recipe, cfg.sampling.seed
        raise Stop

    monkeypatch.setattr(policy.worker.PolicyWorker, "__init__", capture)
    args = ["worker", "--campaign", "1", "--workdir", str(tmp_path / "w"), "--once"]
    result = CliRunner().invoke(app, [*args, "--full", "--lr", "0.002", "--lora-r", "4", "--max-length", "256",
                                      "--lr-scheduler", "cosine", "--seed", "7"])
    assert isinstance(result.exception, Stop), result.output
    r = seen["recipe"]
    assert (r.lora, r.learning_rate, r.lora_r, r.max_length, r.lr_scheduler, r.seed) == (False, 0.002, 4, 256, "cosine", 7)
    assert (r.beta, r.batch_size, r.qa_weights) == (0.1, 8, False) and seen["sampling_seed"] == 7
    bad = CliRunner().invoke(app, [*args, "--schedule", "sometimes"])
    assert bad.exit_code == 2 and "schedule must be one of" in " ".join(bad.output.split())
