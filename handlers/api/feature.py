"""The open HTTP API feature. STUB: being written; see /tmp/h/insight.md."""

from __future__ import annotations

from bot.features import Feature, Platform


def feature(p: Platform) -> Feature:
    return Feature(name="api")
