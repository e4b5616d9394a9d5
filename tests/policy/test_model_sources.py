"""The worker's model sources besides the embedded default: a cached Hugging Face id, offline.

(A local folder is covered by test_model.py and by tests/app/test_hh_e2e.py, whose worker
loads the tiny model from a saved folder.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_cached_hub_id_loads_offline_and_an_uncached_one_is_refused(tiny, tmp_path):
    """A fresh process whose Hugging Face cache (``HF_HOME``) holds ``tiny-org/tiny-chat`` in the
    hub's own layout (snapshots/<commit>, refs/main): the worker's ``load`` finds it by id,
    with the hub forced offline; an id not in the cache is a clear error, not a download."""
    model, tokenizer = tiny
    repo = tmp_path / "hf" / "hub" / "models--tiny-org--tiny-chat"
    model.save_pretrained(repo / "snapshots" / "c0ffee")
    tokenizer.save_pretrained(repo / "snapshots" / "c0ffee")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("c0ffee")
    code = (
        "from policy.model import load, resolve\n"
        "assert resolve('tiny-org/tiny-chat') == 'tiny-org/tiny-chat'\n"
        "m, t = load('tiny-org/tiny-chat', device='cpu')\n"
        "print('loaded', type(m).__name__, m.config.hidden_size, len(t))\n"
        "try:\n    load('tiny-org/not-cached')\nexcept FileNotFoundError as e:\n    print('refused', e)\n"
    )
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "PREFMARKET_TORCH_THREADS": "1"}
    env.pop("HF_HUB_CACHE", None)
    run = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"loaded LlamaForCausalLM 32 {len(tokenizer)}" in run.stdout
    assert "refused" in run.stdout and "never downloads" in run.stdout
