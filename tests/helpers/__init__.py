"""Shared test helpers (tiny Paddle models, serving model folders)."""
