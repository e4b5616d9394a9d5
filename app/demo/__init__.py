"""``prefmarket demo``: the product's main job, end to end, as separate processes.

A requester spends a dollar budget at auction, the policy learns from what it bought, and
the report says what each win-rate point cost next to the usual way of buying labels (a
posted price per label and randomly chosen items) on the same prompts, judge and seed.

============== =========================================================================
``settings``   the run's sizes: presets for the real model on CPU, on a GPU, and the
               ``--quick`` smoke run; saved in the run folder so a resumed run keeps them
``processes``  the market server, the policy worker and the annotator bots as child
               processes (logs in ``<run>/logs``), stopped with the demo
``campaign``   bootstrap accounts, create and fund the campaigns, upload the pool, and
               drive the rounds: score, auction, label, accept, DPO, evaluate
``report``     what the run bought and what it was worth: CSVs, the TRL dataset,
               ``report.md`` (figures from ``GET /v1/campaigns/{id}/accounting``)
``plots``      the PNGs the report shows
``run``        the whole job, resumable from its run folder
============== =========================================================================

Nothing here imports torch: the worker runs in its own process, and only the helper that
saves the tiny test model starts one that does.
"""
