"""Quality control: gold checks, annotator skill, acceptance, aggregation, integrity flags.

Cheap labels from spammers are the most expensive labels, so the market measures each
annotator against gold items (control questions with a known answer) and lets that
measure decide who is paid and how the auction ranks them. The pieces, pure maths first:

============== =========================================================================
``skill``      Beta posterior of an annotator's accuracy on gold; its map to the
               auction's quality q; the judgement (probation / provisional / qualified /
               below the bar)
``mixing``     how many gold checks each winner gets (all its units on probation, a
               steady share once qualified), how much of a round probation may take, and
               who gets it (a lottery, with records fallen below the prior's last)
``aggregate``  soft labels per item: skill-weighted vote, majority vote, Dawid–Skene and
               noisy Bradley–Terry (the last three through crowd-kit, imported lazily),
               and the QA-DPO weight the export derives from them
``flags``      integrity flags: identical bids, degenerate label patterns, gold at chance
``gold``       marking gold items and scoring gold answers (database)
``admission``  the campaign's policy applied when a round clears (database)
``acceptance`` the policy applied when a label is submitted (database)
``report``     what the owner and admin see: skills, flags, soft labels (database)
============== =========================================================================

The offline simulator (``bidders.simulate``, quality mode ``gold``) calls the same
``skill`` and ``mixing`` functions, so what it measures is the policy the market runs.
"""
