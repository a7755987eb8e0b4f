"""Scenario generation from families (issue 16)."""
