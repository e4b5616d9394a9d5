"""Token files (the demo's state.json, the bots' roster) are the owner's alone and written whole."""

from __future__ import annotations

import json
import stat

from market.files import write_private


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


def test_a_writer_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    import numpy as np
    import pytest

    from market.files import replacing, write_text

    path = tmp_path / "sub" / "result.json"
    write_text(path, "old")  # the folder is made
    with pytest.raises(RuntimeError):
        with replacing(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "old" and [p.name for p in path.parent.iterdir()] == ["result.json"]
    cache = tmp_path / "cache.npz"
    with replacing(cache, ".tmp.npz") as tmp:
        np.savez(tmp, x=np.arange(3))  # savez keeps a name that ends in .npz
    with np.load(cache) as z:
        assert z["x"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.npz", "sub"]
