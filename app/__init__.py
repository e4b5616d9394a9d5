"""The app shell above the core: the ``prefmarket`` entry point, the demo and the experiments.

Everything here may import every other package (``market``, ``policy``, ``bidders``, ``ui``,
``task``); nothing in those packages imports ``app``. See docs/architecture.md.
"""
