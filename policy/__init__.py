"""The policy side of prefmarket: the model, its pairs, its acquisition scores, DPO, evaluation.

Modules, from the bottom up:

- ``model``: load any causal LM (the embedded SmolLM2 default, a local path, a cached hub id)
  and build the tiny test model; nothing is ever downloaded from a model hub.
- ``task``: the embedded movie-review task (prompt templates, train/eval split).
- ``scoring``: batched fp32 sequence log-probs and last-layer features, the reference cache.
- ``generate``: two sampled completions per prompt, identical pairs resampled or dropped.
- ``acquisition``: the score functions (random, SHARP, W-SHARP, APL, ADPO) as plain maths.
- ``train``: DPO through TRL (full or LoRA, two schedules, QA-DPO weights).
- ``judges`` and ``evaluate``: the judges, win rate with a bootstrap CI, implicit-reward accuracy.
- ``worker`` and ``cli``: the campaign loop over the HTTP API (``prefmarket worker``).

Importing this package is cheap: torch and transformers load only with the modules that need them.
"""
