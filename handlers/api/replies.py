"""The API's replies: JSON bodies and the one error shape every failure uses,
{"error": {"code": "...", "message": "..."}}, always application/json; charset=utf-8."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

# Answers about her are never cached by a proxy on the way.
NO_STORE = {"Cache-Control": "no-store"}


def dumps(value: Any) -> str:
    # Chinese names and messages stay readable (and a third of the bytes).
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def ok(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=dumps, headers=NO_STORE)


def error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}},
        status=status,
        dumps=dumps,
        headers={**NO_STORE, **(headers or {})},
    )


class ApiError(Exception):
    """A request the API refuses: raised anywhere in a handler, answered as JSON."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return error(self.status, self.code, self.message, self.headers)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)
