"""DPO on the labels the market bought, through TRL's ``DPOTrainer`` (trl==1.16.0).

The split follows TRL's own: ``DPORecipe`` is the configuration an ML engineer picks (it
derives a ``trl.DPOConfig``), ``train_dpo`` is the function that runs it.

What this adds to plain TRL, and why:

- Reference log-probs come from ``ReferenceCache`` (computed once, when the completion was
  first scored) and are handed to TRL as the ``ref_chosen_logps``/``ref_rejected_logps``
  columns that its precompute mode reads. TRL's own precompute would score them with
  whatever model it is given, which under the *continue* schedule is the current policy,
  not the reference.
- Two schedules: ``continue`` trains the current policy on the newly bought labels (SHARP);
  ``retrain`` starts again from the reference on everything bought so far (APL). Under
  ``continue`` the optimiser's state carries from one training to the next
  (``DPORecipe.keep_optimizer``, ``TrainResult.optimizer_state``): the trainings of a
  campaign are then one run of Adam over the labels in the order they were bought. A fresh
  Adam's first steps are its largest (its moments start at zero, so the first step moves
  every weight by about the learning rate whatever the gradient's size), and a round of
  three labels trained that way moved the model at random (issue 17).
- QA-DPO: TRL has no per-pair weights, so ``PreferenceDPOTrainer`` computes the sigmoid DPO
  loss itself when a ``weight`` column is present: ``mean_i w_i · −log σ(β Δ_i)`` with
  ``w = 0.5 + σ(b_a − b_r)``. Without weights TRL's loss runs untouched.
- Soft labels (``DPORecipe.soft_labels``): a label that is right with probability ``s_i``
  is trained as conservative DPO (cDPO) with that probability,
  ``−s_i log σ(β Δ_i) − (1 − s_i) log σ(−β Δ_i)``, whose optimum is the finite margin
  ``σ(β Δ) = s_i`` rather than an ever larger one. Plain DPO memorises every label, the
  wrong ones too (its loss on 137 pairs with 18% flipped fell to 0.26, as on clean pairs);
  TRL 1.16 dropped ``label_smoothing`` from its sigmoid loss, and it was one ε for all pairs.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset
from peft import LoraConfig, PeftModel, get_peft_model
from trl import DPOConfig, DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

from policy.model import PolicyModels
from policy.recipe import RecipeFields
from policy.scoring import ReferenceCache

SCHEDULES = ("continue", "retrain")
OPTIMIZER_FILE = "optimizer.pt"  # beside a checkpoint's adapter: Adam's state for the next ``continue``
PER_PAIR = ("weight", "soft_label")  # dataset columns the loss reads besides TRL's own


@dataclass
class DPORecipe(RecipeFields):
    """The DPO recipe. Its fields, with their defaults and help, are ``RecipeFields``
    (``policy.recipe``, torch-free, so the worker's CLI is derived from them);
    ``learning_rate=None`` picks 5e-6 for full fine-tuning and 5e-4 for LoRA."""

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 5e-4 if self.lora else 5e-6

    def lora_config(self) -> LoraConfig:
        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )

    def dpo_config(self, output_dir: str | os.PathLike, *, precompute: bool = True, progress: bool = False) -> DPOConfig:
        cuda = torch.cuda.is_available()
        return DPOConfig(
            output_dir=str(output_dir),
            beta=self.beta,
            learning_rate=self.lr,
            num_train_epochs=self.epochs,
            max_steps=self.max_steps,
            per_device_train_batch_size=self.batch_size,
            gradient_accumulation_steps=self.grad_accum,
            lr_scheduler_type=self.lr_scheduler,
            warmup_steps=self.warmup_steps,
            seed=self.seed,
            data_seed=self.seed,
            max_length=self.max_length,
            loss_type=["sigmoid"],
            precompute_ref_log_probs=precompute,
            bf16=cuda and torch.cuda.is_bf16_supported(),
            use_cpu=not cuda,
            gradient_checkpointing=False,  # 135M params fit; checkpointing would only slow us down
            save_strategy="no",  # prefmarket saves one checkpoint per round itself
            report_to="none",
            logging_steps=10,
            disable_tqdm=not progress,
            dataloader_num_workers=0,
        )


@dataclass
class PreferencePair:
    prompt: str
    chosen: str
    rejected: str
    weight: float = 1.0
    soft_label: float = 1.0  # probability that ``chosen`` really beats ``rejected``


def qa_weight(b_chosen, b_rejected) -> np.ndarray:
    """VickreyFeedback's QA-DPO weight ``0.5 + σ(b_a − b_r)``, in (0.5, 1.5)."""
    diff = np.asarray(b_chosen, dtype=np.float64) - np.asarray(b_rejected, dtype=np.float64)
    return 0.5 + 0.5 * (1.0 + np.tanh(diff / 2))


# ----------------------------------------------------------------------------- models


def initial_models(model, tokenizer, recipe: DPORecipe) -> PolicyModels:
    """Policy = reference at step 0: a zero-initialised LoRA adapter, or a copy of the weights."""
    if recipe.lora:
        torch.manual_seed(recipe.seed)  # LoRA's A matrices are random; B = 0 keeps policy == reference
        return PolicyModels(policy=get_peft_model(model, recipe.lora_config()), tokenizer=tokenizer)
    policy = copy.deepcopy(model)
    return PolicyModels(policy=policy, tokenizer=tokenizer, reference=model.eval().requires_grad_(False))


def _starting_policy(models: PolicyModels, recipe: DPORecipe):
    """The module training starts from under ``recipe.schedule``."""
    if recipe.lora != models.is_lora:
        raise ValueError("the recipe's lora setting does not match the models (build them with initial_models)")
    if recipe.schedule == "continue":
        return models.policy if recipe.lora else models.policy.requires_grad_(True)
    if recipe.lora:  # a fresh zero adapter on the untouched base weights
        torch.manual_seed(recipe.seed)
        return get_peft_model(models.policy.unload(), recipe.lora_config())
    return copy.deepcopy(models.reference).requires_grad_(True)


# ----------------------------------------------------------------------------- the trainer


@dataclass
class WeightedPreferenceCollator(DataCollatorForPreference):
    """TRL's preference collator, plus the per-pair ``weight`` and ``soft_label`` columns as tensors."""

    def torch_call(self, examples):
        batch = super().torch_call(examples)
        for column in PER_PAIR:
            if column in examples[0]:
                batch[column] = torch.tensor([float(e[column]) for e in examples], dtype=torch.float32)
        return batch


class PreferenceDPOTrainer(DPOTrainer):
    """``DPOTrainer`` that takes the reference log-probs it is given and honours per-pair weights and soft labels."""

    def __init__(self, *args, optimizer_state: dict | None = None, **kwargs):
        self._carried_state = optimizer_state
        super().__init__(*args, **kwargs)
        if isinstance(self.model, PeftModel) and "ref" in self.model.peft_config:
            # TRL copies a pre-trained adapter as the reference; ours is the base model (adapter off),
            # and its log-probs are already in the dataset, so the copy is dead weight.
            self.model.delete_adapter("ref")
            self.model.set_adapter("default")

    def create_optimizer(self, *args, **kwargs):
        """TRL's optimiser, with the moments a previous training left (``optimizer_state``) loaded into it."""
        optimizer = super().create_optimizer(*args, **kwargs)
        if self._carried_state is not None:
            optimizer.load_state_dict(self._carried_state)
        return optimizer

    def _precompute_ref_logps(self, dataset, name, batch_size):
        if "ref_chosen_logps" in dataset.column_names:
            return dataset
        return super()._precompute_ref_logps(dataset, name, batch_size)

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        self._signature_columns = [*self._signature_columns, *(c for c in PER_PAIR if c not in self._signature_columns)]

    def _compute_loss(self, model, inputs, return_outputs):
        if not any(c in inputs for c in PER_PAIR):
            return super()._compute_loss(model, inputs, return_outputs)
        if self.loss_types != ["sigmoid"] or self.ld_alpha is not None or not self.precompute_ref_logps:
            raise ValueError("per-pair weights and soft labels support the plain sigmoid DPO loss with precomputed "
                             "reference log-probs")
        loss, margins = weighted_dpo_loss(model, inputs, self.beta)
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["rewards/margins"].append(margins.mean().item())
        self._metrics[mode]["rewards/accuracies"].append((margins > 0).float().mean().item())
        return (loss, None) if return_outputs else loss


def weighted_dpo_loss(model, inputs, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``mean_i w_i · [−s_i log σ(β Δ_i) − (1 − s_i) log σ(−β Δ_i)]`` with ``Δ_i = (log πθ − log πref)(chosen)
    − (…)(rejected)``, and the reward margins ``β Δ_i``. A missing ``weight`` or ``soft_label`` column is 1.

    The policy's log-probs come from TRL's fused LM head (the same forward TRL's loss uses),
    so with all weights and soft labels 1 this equals TRL's sigmoid loss.
    """
    completion_mask = inputs["completion_mask"]
    labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
    outputs = model(
        input_ids=inputs["input_ids"],
        attention_mask=inputs["attention_mask"],
        labels=labels,
        fused_lm_head=True,
        use_cache=False,
    )
    seq_len = completion_mask.size(1) - 1
    chosen, rejected = outputs.log_probs[:, -seq_len:].sum(dim=1).chunk(2, dim=0)
    logits = (chosen - inputs["ref_chosen_logps"]) - (rejected - inputs["ref_rejected_logps"])
    weight = inputs["weight"].to(logits.dtype) if "weight" in inputs else torch.ones_like(logits)
    soft = inputs["soft_label"].to(logits.dtype) if "soft_label" in inputs else torch.ones_like(logits)
    per_pair = -soft * F.logsigmoid(beta * logits) - (1.0 - soft) * F.logsigmoid(-beta * logits)
    return (weight * per_pair).mean(), (beta * logits).detach()


def preference_dataset(models: PolicyModels, pairs: Sequence[PreferencePair], cache: ReferenceCache, *, weights: bool,
                       soft_labels: bool = False) -> Dataset:
    """TRL's conversational preference format, with cached reference log-probs (and weights, soft labels)."""
    prompts = [p.prompt for p in pairs]
    ref_chosen = cache.logps(models, prompts, [p.chosen for p in pairs])
    ref_rejected = cache.logps(models, prompts, [p.rejected for p in pairs])
    rows = []
    for p, rc, rr in zip(pairs, ref_chosen, ref_rejected, strict=True):
        row = {
            "prompt": [{"role": "user", "content": p.prompt}],
            "chosen": [{"role": "assistant", "content": p.chosen}],
            "rejected": [{"role": "assistant", "content": p.rejected}],
            "ref_chosen_logps": float(rc),
            "ref_rejected_logps": float(rr),
        }
        if weights:
            row["weight"] = float(p.weight)
        if soft_labels:
            row["soft_label"] = float(p.soft_label)
        rows.append(row)
    return Dataset.from_list(rows)


@dataclass
class TrainResult:
    models: PolicyModels
    metrics: dict
    optimizer_state: dict | None = None  # Adam's state after training, for the next ``continue`` (keep_optimizer)


def train_dpo(
    models: PolicyModels,
    pairs: Sequence[PreferencePair],
    recipe: DPORecipe,
    cache: ReferenceCache,
    output_dir: str | os.PathLike,
    *,
    progress: bool = False,
    optimizer_state: dict | None = None,
) -> TrainResult:
    """Run one DPO training under ``recipe`` and return the new policy (the reference is untouched).

    ``pairs`` are the new labels under ``continue`` and all labels under ``retrain``; the
    caller decides, since only it knows what was bought when. ``optimizer_state`` is the
    previous training's ``TrainResult.optimizer_state``: under ``continue`` with
    ``keep_optimizer`` Adam resumes from it (it is ignored otherwise, as a retraining starts
    from the reference with a fresh optimiser).
    """
    if not pairs:
        raise ValueError("no preference pairs to train on")
    carry = recipe.schedule == "continue" and recipe.keep_optimizer
    policy = _starting_policy(models, recipe)
    dataset = preference_dataset(models, pairs, cache, weights=recipe.qa_weights, soft_labels=recipe.soft_labels)
    tokenizer = models.tokenizer
    trainer = PreferenceDPOTrainer(
        model=policy,
        args=recipe.dpo_config(output_dir, progress=progress),
        train_dataset=dataset,
        processing_class=tokenizer,
        data_collator=WeightedPreferenceCollator(pad_token_id=tokenizer.pad_token_id, max_length=recipe.max_length),
        optimizer_state=optimizer_state if carry else None,
    )
    output = trainer.train()
    trained = trainer.model
    _drop_fused_head(trained)
    trained.eval()
    history = [h for h in trainer.state.log_history if "loss" in h]
    metrics = {"train_loss": output.training_loss, "steps": trainer.state.global_step, "pairs": len(pairs)}
    if history:
        metrics.update({k: v for k, v in history[-1].items() if k.startswith("rewards/")})
    state = copy.deepcopy(_unwrapped(trainer.optimizer).state_dict()) if carry else None
    return TrainResult(models=PolicyModels(policy=trained, tokenizer=tokenizer, reference=models.reference),
                       metrics=metrics, optimizer_state=state)


def _unwrapped(optimizer):
    """The torch optimiser inside accelerate's wrapper (its ``state_dict`` is the same either way)."""
    return getattr(optimizer, "optimizer", optimizer)


def _drop_fused_head(model) -> None:
    """Undo TRL's ``add_fused_lm_head`` patch (an instance-level ``forward``) so rounds do not stack it."""
    inner = model.get_base_model() if isinstance(model, PeftModel) else model
    inner.__dict__.pop("forward", None)


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(models: PolicyModels, path: str | os.PathLike, meta: dict | None = None, *,
                    optimizer_state: dict | None = None) -> Path:
    """Save the policy (the adapter only, for LoRA), ``meta`` as JSON and the optimiser's state
    if given (``load_optimizer_state``); written to a temp dir, then renamed."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    models.policy.save_pretrained(tmp)
    if optimizer_state is not None:
        torch.save(optimizer_state, tmp / OPTIMIZER_FILE)
    (tmp / "prefmarket.json").write_text(json.dumps({"lora": models.is_lora, **(meta or {})}, indent=2))
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
    return path


def load_optimizer_state(checkpoint: str | os.PathLike) -> dict | None:
    """The optimiser state saved with ``checkpoint``, or None (a retrain schedule, or a checkpoint from before)."""
    path = Path(checkpoint) / OPTIMIZER_FILE
    return torch.load(path, weights_only=True) if path.exists() else None


def checkpoint_meta(path: str | os.PathLike) -> dict:
    """The ``meta`` saved with a checkpoint (plus its ``lora`` flag)."""
    return json.loads((Path(path) / "prefmarket.json").read_text())


def load_checkpoint(initial: PolicyModels, path: str | os.PathLike) -> PolicyModels:
    """The policy saved at ``path`` on top of ``initial`` (fresh models from ``initial_models``)."""
    from transformers import AutoModelForCausalLM

    path = Path(path)
    meta = checkpoint_meta(path)
    if meta["lora"] != initial.is_lora:
        raise ValueError(f"checkpoint {path} was saved with lora={meta['lora']}, the models have lora={initial.is_lora}")
    if initial.is_lora:
        base = initial.policy.unload()
        policy = PeftModel.from_pretrained(base, path, is_trainable=True)
    else:
        device = next(initial.reference.parameters()).device
        policy = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=initial.reference.dtype).to(device)
    policy.eval()
    return PolicyModels(policy=policy, tokenizer=initial.tokenizer, reference=initial.reference)

