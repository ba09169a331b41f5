"""The open HTTP API (/api): bearer tokens with scopes, contacts, tags, orders, metrics."""
