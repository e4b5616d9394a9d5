"""Token files (the demo's state.json, the bots' roster) are the owner's alone and written whole."""

from __future__ import annotations

import json
import stat

from market.private_file import write_private


def test_a_token_file_is_owner_only_even_over_a_world_readable_one(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{}")
    path.chmod(0o644)
    (tmp_path / ".state.json.tmp").write_text("stale")  # a leftover from a killed writer
    (tmp_path / ".state.json.tmp").chmod(0o644)
    write_private(path, json.dumps({"token": "pm_secret"}))
    assert json.loads(path.read_text()) == {"token": "pm_secret"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
