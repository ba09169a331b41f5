"""Migration files: written by `python -m storage.migrate` (see storage/migrate.py)."""
