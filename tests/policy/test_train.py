"""DPO through TRL: reference log-probs, QA-DPO weights, both schedules, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from policy.model import tiny_model
from policy.scoring import ReferenceCache, pair_scores
from policy.train import (
    DPORecipe,
    PreferenceDPOTrainer,
    PreferencePair,
    WeightedPreferenceCollator,
    initial_models,
    load_checkpoint,
    load_optimizer_state,
    preference_dataset,
    qa_weight,
    save_checkpoint,
    train_dpo,
)

PAIRS_A = [
    PreferencePair("write a review of the movie", "great acting, i loved it!", "boring and bad"),
    PreferencePair("a film about music", "wonderful music", "awful"),
    PreferencePair("review this comedy", "so fun, i enjoyed it", "dull"),
    PreferencePair("the plot of the drama", "a moving story", "a messy plot"),
]
PAIRS_B = [
    PreferencePair("a horror film", "superb and scary", "weak"),
    PreferencePair("a western", "beautiful visuals", "slow and bland"),
]


def _margins(models, cache, pairs):
    return pair_scores(
        models, cache, [p.prompt for p in pairs], [p.chosen for p in pairs], [p.rejected for p in pairs], beta=0.1
    ).margins


def _recipe(**kw):
    base = dict(max_steps=3, batch_size=2, learning_rate=1e-2, beta=0.1)
    base.update(kw)
    return DPORecipe(**base)


def _trainer(models, pairs, recipe, tmp_path, cache):
    dataset = preference_dataset(models, pairs, cache, weights=recipe.qa_weights, soft_labels=recipe.soft_labels)
    tok = models.tokenizer
    return PreferenceDPOTrainer(
        model=models.policy,
        args=recipe.dpo_config(tmp_path),
        train_dataset=dataset,
        processing_class=tok,
        data_collator=WeightedPreferenceCollator(pad_token_id=tok.pad_token_id),
    )


def test_cached_reference_logps_equal_trls_own(tmp_path):
    models = initial_models(*tiny_model(), _recipe(lora=False))
    cache = ReferenceCache()
    ours = preference_dataset(models, PAIRS_A, cache, weights=False)
    plain = ours.remove_columns(["ref_chosen_logps", "ref_rejected_logps"])
    tok = models.tokenizer
    trainer = PreferenceDPOTrainer(
        model=models.policy, args=_recipe(lora=False).dpo_config(tmp_path), train_dataset=plain, processing_class=tok
    )  # no columns: TRL precomputes them itself, with the policy (== reference at step 0)
    np.testing.assert_allclose(trainer.train_dataset["ref_chosen_logps"], ours["ref_chosen_logps"], rtol=1e-5)
    np.testing.assert_allclose(trainer.train_dataset["ref_rejected_logps"], ours["ref_rejected_logps"], rtol=1e-5)


def _batch_grad(trainer, batch):
    trainer.model.zero_grad()
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    return loss.detach(), torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])


def test_qa_weights_reach_the_gradient_linearly(tmp_path):
    recipe = _recipe(lora=False, qa_weights=True)
    models = initial_models(*tiny_model(), recipe)
    with torch.no_grad():  # move away from the reference so both pairs have distinct, non-trivial gradients
        for p in models.policy.parameters():
            p.add_(0.02 * torch.randn_like(p))
    trainer = _trainer(models, PAIRS_A[:2], recipe, tmp_path, ReferenceCache())
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])

    def grad(w1, w2):
        return _batch_grad(trainer, {**batch, "weight": torch.tensor([w1, w2])})[1]

    g10, g01 = grad(1.0, 0.0), grad(0.0, 1.0)
    assert g10.norm() > 0 and g01.norm() > 0 and not torch.allclose(g10, g01)
    torch.testing.assert_close(grad(3.0, 0.0), 3 * g10, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(grad(2.0, 1.0), 2 * g10 + g01, rtol=1e-4, atol=1e-7)


def test_unit_weights_reproduce_trls_loss(tmp_path):
    recipe = _recipe(lora=False, qa_weights=True)
    models = initial_models(*tiny_model(), recipe)
    with torch.no_grad():
        for p in models.policy.parameters():
            p.add_(0.02 * torch.randn_like(p))
    trainer = _trainer(models, PAIRS_A, recipe, tmp_path, ReferenceCache())
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    ours, g_ours = _batch_grad(trainer, {**batch, "weight": torch.ones(4)})
    plain = {k: v for k, v in batch.items() if k != "weight"}
    theirs, g_theirs = _batch_grad(trainer, plain)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-4, atol=1e-7)


def _soft_trainer(tmp_path, pairs, *, perturb: bool):
    recipe = _recipe(lora=False, soft_labels=True)
    models = initial_models(*tiny_model(), recipe)
    if perturb:
        with torch.no_grad():
            for p in models.policy.parameters():
                p.add_(0.02 * torch.randn_like(p))
    trainer = _trainer(models, pairs, recipe, tmp_path, ReferenceCache())
    return trainer, trainer.data_collator([trainer.train_dataset[i] for i in range(len(pairs))])


def test_soft_labels_of_one_reproduce_trls_loss(tmp_path):
    trainer, batch = _soft_trainer(tmp_path, PAIRS_A, perturb=True)
    assert "soft_label" in batch
    ours, g_ours = _batch_grad(trainer, {**batch, "soft_label": torch.ones(4)})
    theirs, g_theirs = _batch_grad(trainer, {k: v for k, v in batch.items() if k != "soft_label"})
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-4, atol=1e-7)


def test_a_soft_label_mixes_the_label_and_its_flip_linearly(tmp_path):
    trainer, batch = _soft_trainer(tmp_path, PAIRS_A[:2], perturb=True)

    def grad(s1, s2):
        return _batch_grad(trainer, {**batch, "soft_label": torch.tensor([s1, s2])})[1]

    g_right, g_flipped = grad(1.0, 1.0), grad(0.0, 0.0)
    assert g_right.norm() > 0 and not torch.allclose(g_right, g_flipped)
    torch.testing.assert_close(grad(0.8, 0.8), 0.8 * g_right + 0.2 * g_flipped, rtol=1e-4, atol=1e-7)


def test_a_coin_flip_label_teaches_nothing_at_the_reference(tmp_path):
    """At step 0 the policy is the reference (margin 0), where a soft label of 0.5 is
    already the optimum: no gradient, while a sure label pulls."""
    trainer, batch = _soft_trainer(tmp_path, PAIRS_A[:2], perturb=False)
    assert _batch_grad(trainer, {**batch, "soft_label": torch.tensor([0.5, 0.5])})[1].abs().max() < 1e-6
    assert _batch_grad(trainer, {**batch, "soft_label": torch.tensor([0.9, 0.9])})[1].norm() > 1e-4


def test_doubtful_labels_move_the_policy_less_than_sure_ones(tmp_path):
    margins = {}
    for soft in (1.0, 0.6):
        recipe = _recipe(lora=False, soft_labels=True)
        models = initial_models(*tiny_model(), recipe)
        cache = ReferenceCache()
        pairs = [PreferencePair(p.prompt, p.chosen, p.rejected, soft_label=soft) for p in PAIRS_A]
        margins[soft] = _margins(train_dpo(models, pairs, recipe, cache, tmp_path / str(soft)).models, cache, PAIRS_A)
    assert margins[1.0].mean() > margins[0.6].mean() > 0


def test_qa_weight_formula():
    w = qa_weight([1.0, 0.0, -30.0], [0.0, 0.0, 30.0])
    np.testing.assert_allclose(w, [0.5 + 1 / (1 + np.exp(-1.0)), 1.0, 0.5], atol=1e-12)


@pytest.mark.parametrize("lora", [True, False])
@pytest.mark.parametrize("schedule", ["continue", "retrain"])
def test_training_raises_the_margins_of_the_bought_pairs(lora, schedule, tmp_path):
    recipe = _recipe(lora=lora, schedule=schedule)
    models = initial_models(*tiny_model(), recipe)
    cache = ReferenceCache()
    before = _margins(models, cache, PAIRS_A)
    assert np.array_equal(before, np.zeros(4))
    result = train_dpo(models, PAIRS_A, recipe, cache, tmp_path)
    after = _margins(result.models, cache, PAIRS_A)
    assert after.mean() > 0.05 and result.metrics["steps"] == 3
    assert cache.misses == 8  # each completion met the reference once, scoring and training together
    assert "forward" not in (result.models.policy.get_base_model() if lora else result.models.policy).__dict__


@pytest.mark.parametrize("lora", [True, False])
def test_retrain_starts_from_the_reference_and_continue_does_not(lora, tmp_path):
    cache = ReferenceCache()
    fresh = initial_models(*tiny_model(), _recipe(lora=lora))
    moved = train_dpo(initial_models(*tiny_model(), _recipe(lora=lora)), PAIRS_A, _recipe(lora=lora), cache, tmp_path / "a").models
    retrain = _recipe(lora=lora, schedule="retrain")
    from_fresh = train_dpo(fresh, PAIRS_B, retrain, cache, tmp_path / "b").models
    from_moved = train_dpo(moved, PAIRS_B, retrain, cache, tmp_path / "c").models
    np.testing.assert_allclose(_margins(from_moved, cache, PAIRS_A), _margins(from_fresh, cache, PAIRS_A), atol=1e-5)

    moved_again = train_dpo(initial_models(*tiny_model(), _recipe(lora=lora)), PAIRS_A, _recipe(lora=lora), cache, tmp_path / "d").models
    continued = train_dpo(moved_again, PAIRS_B, _recipe(lora=lora), cache, tmp_path / "e").models
    assert np.abs(_margins(continued, cache, PAIRS_A) - _margins(from_fresh, cache, PAIRS_A)).max() > 1e-3


@pytest.mark.parametrize("lora", [True, False])
def test_checkpoint_round_trip(lora, tmp_path):
    recipe = _recipe(lora=lora)
    cache = ReferenceCache()
    trained = train_dpo(initial_models(*tiny_model(), recipe), PAIRS_A, recipe, cache, tmp_path / "run").models
    path = save_checkpoint(trained, tmp_path / "round-1", {"round": 1})
    restored = load_checkpoint(initial_models(*tiny_model(), recipe), path)
    np.testing.assert_allclose(_margins(restored, cache, PAIRS_A), _margins(trained, cache, PAIRS_A), rtol=1e-5, atol=1e-6)
    assert restored.is_lora == lora
    with pytest.raises(ValueError, match="lora"):
        load_checkpoint(initial_models(*tiny_model(), _recipe(lora=not lora)), path)


def test_bad_recipes_and_empty_data_are_refused(tmp_path):
    with pytest.raises(ValueError, match="schedule"):
        DPORecipe(schedule="sometimes")
    models = initial_models(*tiny_model(), _recipe(lora=True))
    with pytest.raises(ValueError, match="no preference pairs"):
        train_dpo(models, [], _recipe(lora=True), ReferenceCache(), tmp_path)
    with pytest.raises(ValueError, match="lora setting"):
        train_dpo(models, PAIRS_A, _recipe(lora=False), ReferenceCache(), tmp_path)


def _adam_steps(state: dict) -> int:
    return int(next(iter(state["state"].values()))["step"])


def test_continue_carries_adams_state_from_one_training_to_the_next(tmp_path):
    """Under continue, the trainings are one run of Adam: the second picks up the moments and
    the step count the first left (a fresh optimiser's first steps are its largest), the
    state survives a checkpoint, and it changes where the second training ends."""
    recipe = _recipe()
    cache = ReferenceCache()
    first = train_dpo(initial_models(*tiny_model(), recipe), PAIRS_A, recipe, cache, tmp_path / "a")
    assert _adam_steps(first.optimizer_state) == 3
    path = save_checkpoint(first.models, tmp_path / "v1", optimizer_state=first.optimizer_state)
    carried = load_optimizer_state(path)
    assert _adam_steps(carried) == 3
    models = load_checkpoint(initial_models(*tiny_model(), recipe), path)
    second = train_dpo(models, PAIRS_B, recipe, cache, tmp_path / "b", optimizer_state=carried)
    assert _adam_steps(second.optimizer_state) == 6  # one run of Adam: 3 steps, then 3 more

    fresh = train_dpo(load_checkpoint(initial_models(*tiny_model(), recipe), path), PAIRS_B, recipe, cache,
                      tmp_path / "c")
    assert _adam_steps(fresh.optimizer_state) == 3
    assert np.abs(_margins(second.models, cache, PAIRS_B) - _margins(fresh.models, cache, PAIRS_B)).max() > 1e-4


def test_retrain_and_keep_optimizer_off_start_adam_afresh(tmp_path):
    cache = ReferenceCache()
    for recipe in (_recipe(schedule="retrain"), _recipe(keep_optimizer=False)):
        done = train_dpo(initial_models(*tiny_model(), recipe), PAIRS_A, recipe, cache, tmp_path / recipe.schedule)
        assert done.optimizer_state is None
        path = save_checkpoint(done.models, tmp_path / f"ckpt-{recipe.schedule}")
        assert load_optimizer_state(path) is None
