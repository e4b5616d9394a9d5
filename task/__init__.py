"""The built-in movie-review task: its prompt pool (``task.prompts``) and its judges (``task.judges``).

Torch-free and shared: the policy evaluates with these judges, the bots answer to them, and
the demo builds its pool from these prompts. It imports nothing from the rest of prefmarket.
"""
