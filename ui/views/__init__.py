"""Page renderers: each module draws one role's pages from API data.

Pages read in their body and change things only in button callbacks (``common.act``), so
a click's effect is visible in the same rerun and its outcome survives it as a flash
message. Data shaping lives in ``ui.data`` / ``ui.lab_data``, not here.
"""
