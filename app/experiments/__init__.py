"""Reproducible measurements on the real default model (each module has a ``main()``)."""
