"""The auction rules: one pure, vectorised core for the live market and the simulator.

Economists call it directly::

    from market.mechanisms import clear
    result = clear("budget_feasible", asks, values=values, budget=20.0)
    result.winners, result.payments

The live market calls the same function on asks in cents and turns the payments into
whole cents with :func:`payments_to_cents`, so what the simulator measures is what
annotators get; :func:`clear_bids` is that whole step from bids to per-bid cents, shared
by the live clearing and replay.
"""

from market.mechanisms.bids import BidPayments, clear_bids, pay_bids
from market.mechanisms.cents import payments_to_cents
from market.mechanisms.clearing import RULES, TRUTHFUL_RULES, Clearing, MechanismError, clear
from market.mechanisms.reserve import clear_with_reserve, myerson_reserve, reserves_excluding_own

__all__ = ["RULES", "TRUTHFUL_RULES", "BidPayments", "Clearing", "MechanismError", "clear", "clear_bids",
           "clear_with_reserve", "pay_bids",
           "myerson_reserve", "payments_to_cents", "reserves_excluding_own"]
