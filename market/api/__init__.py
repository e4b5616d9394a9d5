"""The HTTP API (FastAPI) under /v1: the only door to the market's database.

Layout follows the FastAPI full-stack template: ``app.py`` (factory, error handling),
``deps.py`` (session and auth dependencies), ``schemas.py`` (request/response models with
OpenAPI examples) and ``routes/`` (one module per resource). Routes are thin: they
validate shapes, call the domain modules in ``market/`` and commit.
"""
