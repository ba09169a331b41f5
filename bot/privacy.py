"""Masking personal data (ids, phone numbers) before it reaches a log line.

Code that logs a contact id passes it through `mask_id`; the `MaskingFilter` on the log
handler catches what slips through in free text: mainland mobile numbers, WeChat ids
(wxid_...), group ids (...@chatroom, ...@openim), WeCom external ids (wm.../wo...,
1688...), in the message and in a traceback. A self-chosen WeChat id (lily1988) looks like
any word and is not caught: code that logs ids masks them itself (`mask_id`), and a key
built from ids (an outbox dedupe key) is logged through `mask_key`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_IDS = re.compile(
    r"(?<![A-Za-z0-9_])(?:wxid_[A-Za-z0-9_-]{3,}|[A-Za-z0-9_-]{4,}@(?:chatroom|openim)"
    r"|w[mor][A-Za-z0-9_-]{20,}|1688\d{8,})(?![A-Za-z0-9_])"
)


def mask_id(value: str | None) -> str:
    """wxid_abcdef123 -> wxid_a***23: enough to correlate, not enough to contact."""
    if not value:
        return str(value)
    if len(value) <= 4:
        return value[0] + "***"
    return f"{value[: max(1, min(6, len(value) // 3))]}***{value[-2:]}"


_KIND = re.compile(r"[a-z][a-z_-]{0,23}")


def mask_key(key: str | None) -> str:
    """A key built from ids, as logged: its kind (the first part, a word chosen by code)
    and a digest. 'msg:lily1988:keywords:say:1' -> 'msg…#1f0c3a9e'. The same key always
    gives the same digest (the first 8 hex digits of its SHA-1), so log lines about one
    key can be followed, and a known key can be looked for; no id inside it is shown."""
    if not key:
        return str(key)
    kind = key.split(":", 1)[0]
    digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{kind if _KIND.fullmatch(kind) else 'key'}…#{digest}"


def mask_ids_in(text: str, ids: Iterable[str | None]) -> str:
    """`text` with each of `ids` (those known to be in it: a send's room, contact,
    mentions) replaced by its masked form, longest first."""
    for value in sorted({i for i in ids if i}, key=len, reverse=True):
        text = text.replace(value, mask_id(value))
    return text


def mask_text(text: str) -> str:
    return _IDS.sub(lambda m: mask_id(m.group(0)), _PHONE.sub(r"\1****\2", text))


class MaskingFilter(logging.Filter):
    """Masks phone numbers and ids in every formatted log message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        # A traceback quotes values too (a failed send names her id): the formatter uses
        # exc_text when it is set, so set it (or what another handler set) masked.
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


_FORMATTER = logging.Formatter()
