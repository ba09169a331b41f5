"""Persistence: tortoise-orm models and queries, key-value store."""
