"""Transforms over core form, one pass each."""
