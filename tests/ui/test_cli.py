"""The portal CLI: the command it runs, the API address it passes on, and no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from ui import cli

ROOT = Path(__file__).resolve().parents[2]


def test_portal_command_runs_the_entry_file_headless_on_the_given_address():
    cmd = cli.portal_command("127.0.0.1", 8765)
    assert cmd[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert Path(cmd[4]) == ROOT / "ui" / "portal.py" and Path(cmd[4]).is_file()
    opts = dict(zip(cmd[5::2], cmd[6::2]))
    assert opts["--server.address"] == "127.0.0.1" and opts["--server.port"] == "8765"
    assert opts["--server.headless"] == "true" and opts["--browser.gatherUsageStats"] == "false"
    assert cli.portal_url("127.0.0.1", 8765) == "http://127.0.0.1:8765"


def test_portal_passes_the_api_url_to_streamlit(monkeypatch):
    seen = {}

    def fake_execve(path, cmd, env):
        seen.update(path=path, cmd=cmd, env=env)

    monkeypatch.setattr(cli.os, "execve", fake_execve)
    result = CliRunner().invoke(cli.app, ["--api-url", "http://127.0.0.1:9999", "--port", "8600"])
    assert result.exit_code == 0, result.output
    assert seen["env"]["PREFMARKET_API_URL"] == "http://127.0.0.1:9999"
    assert seen["path"] == sys.executable and "8600" in seen["cmd"]
    assert "http://127.0.0.1:8600" in result.output


def test_the_cli_module_imports_neither_streamlit_nor_torch():
    code = ("import sys, ui.cli; heavy = {'streamlit', 'torch'} & set(sys.modules); "
            "assert not heavy, f'ui.cli imported {heavy}'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_portal_modules_do_not_import_torch():
    code = ("import sys, ui.cli, ui.data, ui.lab_data, ui.state, ui.views.annotator, ui.views.requester, "
            "ui.views.lab, ui.views.admin, ui.views.signin; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
