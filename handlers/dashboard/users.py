"""Dashboard users. STUB: being written; see /tmp/h/insight.md."""

from __future__ import annotations

import argparse


def cli_users(args: argparse.Namespace) -> int:
    raise NotImplementedError
