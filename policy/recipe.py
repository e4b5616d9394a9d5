"""The DPO recipe's knobs, each written once with its default and its help.

As TRL's ``DPOConfig`` does (``field(metadata={"help": ...})``), the help lives on the
field, and the worker's command line is generated from these fields (``policy.cli``): a
new knob shows up in ``prefmarket worker --help`` with its default by itself. The fields
are kept apart from ``policy.train.DPORecipe``, which adds what needs torch, PEFT and TRL,
so that building the command line imports none of them.

Field metadata: ``help`` (always); ``flags``, the option's names when they are not
``--field-name``; ``set_by``, the option from which the worker sets the field each round
(no option of its own: the data decides whether a round's pairs carry weights or soft
labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RecipeFields:
    """What an ML engineer picks for DPO; ``policy.train.DPORecipe`` is this with its methods."""

    beta: float = field(default=0.1, metadata={"help": "DPO beta: how strongly the policy is held to the reference"})
    learning_rate: float | None = field(default=None, metadata={
        "help": "learning rate (default 5e-4 with LoRA, 5e-6 for full fine-tuning)", "flags": ("--lr", "--learning-rate")})
    epochs: float = field(default=1.0, metadata={"help": "epochs over each round's labels"})
    max_steps: int = field(default=-1, metadata={"help": "optimiser steps per round; above 0 it overrides --epochs"})
    batch_size: int = field(default=8, metadata={"help": "pairs per optimiser step"})
    grad_accum: int = field(default=1, metadata={"help": "batches accumulated into one optimiser step"})
    lora: bool = field(default=True, metadata={"help": "LoRA adapters or full fine-tuning", "flags": ("--lora/--full",)})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (the adapters are scaled by alpha / rank)"})
    lora_dropout: float = field(default=0.0, metadata={"help": "dropout on the LoRA adapters"})
    schedule: str = field(default="continue", metadata={
        "help": "continue (train the current policy on the new labels) or retrain (all labels, from the reference)"})
    keep_optimizer: bool = field(default=True, metadata={
        "help": "with continue: carry Adam's moments from one round's training to the next, so a round of a few "
                "labels takes steps on the running averages rather than a fresh optimiser's first, largest ones"})
    qa_weights: bool = field(default=False, metadata={
        "help": "weight each pair's loss by its label's quality (QA-DPO)", "set_by": "--quality"})
    soft_labels: bool = field(default=False, metadata={
        "help": "train each pair toward its soft label (cDPO) instead of certainty", "set_by": "--soft-labels"})
    max_length: int = field(default=512, metadata={"help": "tokens of prompt and completion kept per pair"})
    warmup_steps: int = field(default=0, metadata={"help": "optimiser steps of learning-rate warm-up"})
    lr_scheduler: str = field(default="constant", metadata={
        "help": "learning-rate schedule, by its transformers name (constant, linear, cosine, ...)"})
    seed: int = field(default=0, metadata={"help": "seed for training; the worker also seeds sampling and "
                                                   "tie-breaking with it"})
