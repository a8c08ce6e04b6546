"""Compilers for generated modules (plain Python needs none)."""
