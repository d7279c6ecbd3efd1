"""Notifications of the L4M provider."""
