"""``prefmarket demo``: the product's main job, end to end, as separate processes.

A requester spends a dollar budget at auction, the policy learns from what it bought, and
the report leads with what a label and a win-rate point cost next to the usual way of
buying labels (a posted price per label and randomly chosen items) at equal spend, on the
same pairs, judge and held-out prompts.

============== =========================================================================
``settings``   the run's sizes: presets for the real model on CPU, on a GPU, and the
               ``--quick`` smoke run; saved in the run folder so a resumed run keeps them
``processes``  the market server, the policy worker and the annotator bots as child
               processes (logs in ``<run>/logs``), stopped with the demo
``campaign``   drive a campaign's rounds: score, auction, label, accept, DPO, evaluate
``paired``     the work with the model outside the market, in child processes: the pool's
               pairs and judge-labelled held-out pairs before the campaigns; the
               coin-flip control and the paired evaluation of every policy after them
``report``     what the run bought and what it was worth: the claim first, then quality
               control and caveats; CSVs, the TRL dataset
``plots``      the PNGs the report shows
``run``        the whole job, resumable from its run folder
============== =========================================================================

Nothing the demo imports pulls in torch: the workers and ``paired`` run in their own
processes (``paired`` imports torch inside its steps), as does the helper that saves the
tiny test model.
"""
