"""Annotators for the economist and for the live market.

``population`` (who they are), ``strategies`` (how they bid), ``labels`` (how they
answer), ``simulate`` (rules compared offline on ``market.mechanisms.clear``), ``replay``
(a logged campaign re-cleared under every rule), ``bots`` (the same annotators working the
live market over HTTP), ``cli`` (``prefmarket simulate`` / ``prefmarket replay``).
"""
