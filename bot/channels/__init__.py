"""Transports: each turns one platform into events and performs actions on it."""
