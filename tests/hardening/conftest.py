"""Fixtures for the hardening tests: a real `prefmarket serve` subprocess on loopback."""
