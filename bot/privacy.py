"""Masking personal data (ids, phone numbers) before it reaches a log line."""

from __future__ import annotations

import logging
import re

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_id(value: str | None) -> str:
    """wxid_abcdef123 -> wxid_a***23: enough to correlate, not enough to contact."""
    if not value:
        return str(value)
    if len(value) <= 4:
        return value[0] + "***"
    return f"{value[: max(1, min(6, len(value) // 3))]}***{value[-2:]}"


def mask_text(text: str) -> str:
    return _PHONE.sub(r"\1****\2", text)


class MaskingFilter(logging.Filter):
    """Masks phone numbers in every formatted log message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
