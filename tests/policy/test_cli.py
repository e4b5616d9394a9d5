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
