"""Operators of the L4M provider."""
