"""The Streamlit portal: annotator, requester, admin and economist-lab pages.

It reaches the market only through ``market.client.MarketClient`` (the HTTP API); the lab
runs ``bidders.simulate`` locally. Entry file: ``ui/portal.py``; command: ``prefmarket
portal``. See ``ui/README.md`` for the layout and how to test it.
"""
