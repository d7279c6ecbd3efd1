"""Hooks of the L4M provider."""
