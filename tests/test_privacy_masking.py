"""Personal data in log lines: phone numbers and ids are masked."""

from __future__ import annotations

import io
import logging

import pytest

from bot.privacy import MaskingFilter, mask_id, mask_text


def test_mask_id_keeps_enough_to_correlate() -> None:
    assert mask_id("wxid_abcdef123") == "wxid***23"
    assert mask_id("abc") == "a***"
    assert mask_id(None) == "None"


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("call 13812345678 now", "call 138****5678 now"),
        ("outbox: say dialog-start:intake:wxid_k2j3h4g5:2026 gave up", None),
        ("room 34567890123@chatroom kicked", None),
        ("wecom wmAbCdEfGhIjKlMnOpQrStUvWx1234 said", None),
        ("order 20261125 for 2 cans", "order 20261125 for 2 cans"),  # not a phone, not an id
    ],
)
def test_mask_text(raw: str, masked: str | None) -> None:
    out = mask_text(raw)
    if masked is not None:
        assert out == masked
    else:
        assert out != raw and "***" in out
        for secret in ("wxid_k2j3h4g5", "34567890123@chatroom", "wmAbCdEfGhIjKlMnOpQrStUvWx1234"):
            assert secret not in out


def test_the_filter_masks_formatted_records(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.masking")
    handler = caplog.handler
    handler.addFilter(MaskingFilter())
    try:
        log.warning("send to %s failed, phone %s", "wxid_secret99", "13900001111")
    finally:
        handler.removeFilter(handler.filters[-1])
    (record,) = caplog.records
    text = record.getMessage()
    assert "wxid_secret99" not in text and "13900001111" not in text
    assert "139****1111" in text


def test_a_traceback_is_masked_too() -> None:
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(MaskingFilter())
    log = logging.getLogger("test.masking.traceback")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise RuntimeError("send to wxid_secret77 in 998877665544@chatroom, 13700002222")
        except RuntimeError:
            log.exception("send failed")
    finally:
        log.removeHandler(handler)
    out = handler.stream.getvalue()  # type: ignore[attr-defined]
    assert "RuntimeError" in out and "send failed" in out
    for secret in ("wxid_secret77", "998877665544@chatroom", "13700002222"):
        assert secret not in out


def test_a_traceback_formatted_by_another_handler_first_is_masked_too() -> None:
    first = logging.StreamHandler(io.StringIO())  # no filter: formats and caches exc_text
    masked = logging.StreamHandler(io.StringIO())
    masked.addFilter(MaskingFilter())
    log = logging.getLogger("test.masking.two")
    log.addHandler(first)
    log.addHandler(masked)
    log.propagate = False
    try:
        try:
            raise RuntimeError("wxid_secret55 said 13600003333")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(first)
        log.removeHandler(masked)
    out = masked.stream.getvalue()  # type: ignore[attr-defined]
    assert "RuntimeError" in out and "wxid_secret55" not in out and "13600003333" not in out


def test_a_key_is_logged_as_its_kind_and_a_digest() -> None:
    from bot.privacy import mask_ids_in, mask_key

    key = "msg:lily1988:keywords:say:1"
    assert mask_key(key) == mask_key(key)  # the same key: the same digest, to follow it
    assert mask_key(key).startswith("msg…#") and "lily1988" not in mask_key(key)
    assert mask_key("lily1988:x").startswith("key…#")  # a first part that is not a kind word
    assert mask_key(key) != mask_key("msg:lily1989:keywords:say:1")
    assert (
        mask_ids_in("no contact lily1988 in R1", ["lily1988", None]) == "no contact li***88 in R1"
    )
