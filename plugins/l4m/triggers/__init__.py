"""Triggers of the L4M provider."""
