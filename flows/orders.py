"""Orders and RFM (the insight issue). STUB: being written; see /tmp/h/insight.md."""

from __future__ import annotations

import argparse

from bot.features import Feature, Platform


def feature(p: Platform) -> Feature:
    return Feature(name="orders")


def cli_import(args: argparse.Namespace) -> int:
    raise NotImplementedError
