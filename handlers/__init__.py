"""Incoming-event behaviours, one module each."""
