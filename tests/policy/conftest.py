"""Fixtures for the policy tests: the tiny model, on one CPU thread (others share the machine)."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def tiny():
    from policy.model import tiny_model

    return tiny_model(seed=0)


@pytest.fixture
def prompts():
    return ["write a review of the movie", "a film about music", "the acting was great", "review this comedy"]
