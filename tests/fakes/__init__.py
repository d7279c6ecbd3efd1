"""Test doubles of AWS services that moto does not implement (enough of)."""
