"""One router per resource; mounted under /v1 by ``market.api.app.create_app``."""
