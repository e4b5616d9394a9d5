"""Bounds on what the market accepts, shared by the API schemas and the domain checks.

They exist to turn absurd input (a $10,000,000 label, a billion-unit bid) into a clear
4xx instead of an overflow or a runaway round; they are generous for real use.
"""

MAX_PRICE_CENTS = 100_000  # $1,000 per label
MAX_BUDGET_CENTS = 10_000_000_000  # $100,000,000 per campaign
MAX_LABELS_PER_ITEM = 20
MAX_ROUND_SIZE = 10_000  # items offered per round
MAX_CAPACITY = 10_000  # labels one bid may offer
MAX_DURATION_S = 30 * 24 * 3600.0
MIN_DURATION_S = 0.01
MAX_TEXT_CHARS = 200_000  # one prompt or completion
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
MAX_UPLOAD_LINES = 200_000
MAX_NAME_CHARS = 200
MAX_SCORE_ABS = 1e12
MAX_ID = 2**63 - 1  # ids are 64-bit integers in every database
MAX_COUNT = 10**12
MAX_GOLD_ANSWERS = 1_000  # a campaign's exam length (gold answers before judging)
HOLD_LIMIT_S = 7 * 24 * 3600.0  # a label held this long while its annotator's test goes on is decided on the evidence so far
