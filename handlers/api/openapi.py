"""The OpenAPI 3.0 document of the open API, served at /api/openapi.json.

Kept as data next to the handlers it describes; tests/test_api_schema.py runs schemathesis
against the live server with it, so a handler that answers what this does not say fails.
"""

from __future__ import annotations

import copy
from typing import Any

from handlers.api.access import FAILURES_PER_MINUTE

VERSION = "1.0.0"

_STR = {"type": "string"}
_NSTR = {"type": "string", "nullable": True}
_INT = {"type": "integer"}
_NINT = {"type": "integer", "nullable": True}
_BOOL = {"type": "boolean"}
_WHEN = {"type": "string", "format": "date-time"}
_NWHEN = {"type": "string", "format": "date-time", "nullable": True}
_NDAY = {"type": "string", "format": "date", "nullable": True}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], *, extra: bool = True) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": extra,
    }


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


_SCHEMAS: dict[str, Any] = {
    "Error": _object(
        {
            "error": _object(
                {
                    "code": {
                        "type": "string",
                        "description": "unauthorized, forbidden, rate_limited, bad_request, "
                        "invalid_json, not_found, method_not_allowed, payload_too_large, "
                        "unavailable, internal_error",
                    },
                    "message": _STR,
                }
            )
        }
    ),
    "ContactSummary": _object(
        {
            "id": _STR,
            "name": _STR,
            "channel": _NSTR,
            "is_friend": _BOOL,
            "first_seen_at": _NWHEN,
            "opted_out": _BOOL,
            "stage": _NSTR,
            "tags": _array(_STR),
        }
    ),
    "ContactPage": _object(
        {
            "contacts": _array(_ref("ContactSummary")),
            "next_cursor": {
                **_NSTR,
                "description": "pass as `cursor` for the next page; null on the last page",
            },
        }
    ),
    "Contact360": _object(
        {
            "contact": _object(
                {
                    "id": _STR,
                    "name": _STR,
                    "channel": _NSTR,
                    "is_friend": _BOOL,
                    "first_seen_at": _NWHEN,
                    "opted_out": _BOOL,
                    "unfriended_at": {
                        **_NWHEN,
                        "description": "when she deleted or blocked the bot; null while a friend",
                    },
                }
            ),
            "profile": {
                **_object(
                    {
                        "stage": _NSTR,
                        "due_date": _NDAY,
                        "birth_date": _NDAY,
                        "city": _NSTR,
                        "province": _NSTR,
                        "children": _NINT,
                        "family": _NSTR,
                        "extra": {"type": "object"},
                        "account_id": _NSTR,
                        "updated_at": _NWHEN,
                    }
                ),
                "nullable": True,
            },
            "tags": _array(
                _object({"name": _STR, "source": _STR, "detail": _STR, "added_at": _NWHEN})
            ),
            "tag_history": _array(
                _object(
                    {
                        "tag": _STR,
                        "op": {"type": "string", "enum": ["add", "remove"]},
                        "source": _STR,
                        "detail": _STR,
                        "at": _NWHEN,
                    }
                )
            ),
            "groups": _array(
                _object({"room_id": _STR, "topic": _STR, "joined_at": _NWHEN, "left_at": _NWHEN})
            ),
            "orders": _array(
                _object(
                    {
                        "order_id": _STR,
                        "amount_cents": _INT,
                        "currency": _STR,
                        "status": _STR,
                        "product": _STR,
                        "channel": _NSTR,
                        "placed_at": _NWHEN,
                    }
                )
            ),
            "orders_total": _INT,
            "sequences": _array(
                _object(
                    {
                        "sequence_id": _STR,
                        "status": _STR,
                        "step": _INT,
                        "enrolled_at": _NWHEN,
                        "ended_at": _NWHEN,
                        "end_reason": _STR,
                    }
                )
            ),
            "rfm": {
                **_object(
                    {
                        "r": _INT,
                        "f": _INT,
                        "m": _INT,
                        "segment": _STR,
                        "recency_days": _INT,
                        "frequency": _INT,
                        "monetary_cents": _INT,
                        "computed_at": _NWHEN,
                    }
                ),
                "nullable": True,
            },
        }
    ),
    "Timeline": _object(
        {
            "contact_id": _STR,
            "events": _array(
                _object(
                    {
                        "at": _WHEN,
                        "kind": _STR,
                        "room_id": _NSTR,
                        "msg_type": _NSTR,
                        "text": _NSTR,
                    }
                )
            ),
            "next_cursor": _NSTR,
        }
    ),
    "TagCounts": _object(
        {"tags": _array(_object({"name": _STR, "contacts": {"type": "integer", "minimum": 1}}))}
    ),
    "Order": {
        "type": "object",
        "required": ["order_id", "amount", "placed_at"],
        "description": "One order; at least one of contact_id, external_id, unionid or "
        "phone names the mother (an order naming nobody we know is stored as unmatched).",
        "properties": {
            "order_id": _STR,
            "contact_id": _STR,
            "external_id": _STR,
            "unionid": _STR,
            "phone": _STR,
            "amount": {
                "description": 'in yuan: a number or a decimal string ("199.00")',
                "oneOf": [{"type": "number"}, {"type": "string"}],
            },
            "currency": {**_STR, "default": "CNY"},
            "placed_at": {
                **_STR,
                "description": "ISO 8601; without an offset it is the bot's timezone",
            },
            "status": {"type": "string", "enum": ["paid", "refunded", "cancelled"]},
            "product": _STR,
            "channel": _STR,
            "account_id": _STR,
        },
    },
    "OrdersIn": {
        "description": '{"orders": [...]}, a list of orders, or one order',
        "oneOf": [
            {
                "type": "object",
                "required": ["orders"],
                "properties": {"orders": _array(_ref("Order"))},
            },
            _array(_ref("Order")),
            _ref("Order"),
        ],
    },
    "IngestReport": _object(
        {
            "received": _INT,
            "created": _INT,
            "updated": _INT,
            "unchanged": _INT,
            "unmatched": _INT,
            "errors": _array(
                _object({"index": _INT, "order_id": _NSTR, "error": _STR}),
            ),
        }
    ),
    "Overview": {
        **_object(
            {
                "from": {"type": "string", "format": "date"},
                "to": {"type": "string", "format": "date"},
                "filters": {"type": "object"},
                "totals": {"type": "object"},
                "daily": _array({"type": "object"}),
                "funnel": {"type": "object"},
                "channels": _array({"type": "object"}),
                "conversion": {"type": "object"},
                "hot_topics": _array({"type": "object"}),
            }
        ),
        "description": "The operating metrics of a date range (storage/metrics.py).",
    },
}

_JSON_ERROR = {"application/json": {"schema": _ref("Error")}}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": _JSON_ERROR}
    if headers:
        response["headers"] = headers
    return response


_RESPONSES = {
    "BadRequest": _error("a parameter or the body is not valid"),
    "Unauthorized": _error(
        "no valid bearer token", {"WWW-Authenticate": {"schema": {"type": "string"}}}
    ),
    "Forbidden": _error("the token lacks the scope this operation needs"),
    "NotFound": _error("no such contact"),
    "RateLimited": _error(
        "over the token's requests per minute, or too many requests without a valid "
        "token from this address this minute",
        {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}},
    ),
    "ServerError": _error("the request failed on our side; try again later"),
}


def _answers(ok: dict[str, Any], *codes: str) -> dict[str, Any]:
    """An operation's responses: `ok` as 200, the errors every guarded call may get, and
    the named others."""
    named = {
        "400": "BadRequest",
        "404": "NotFound",
    }
    responses: dict[str, Any] = {"200": ok}
    for code in codes:
        responses[code] = {"$ref": f"#/components/responses/{named[code]}"}
    responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
    responses["403"] = {"$ref": "#/components/responses/Forbidden"}
    responses["429"] = {"$ref": "#/components/responses/RateLimited"}
    responses["500"] = {"$ref": "#/components/responses/ServerError"}
    return responses


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_LIMIT = _query(
    "limit", "page size", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
)
_CURSOR = _query(
    "cursor",
    "the `next_cursor` of the previous page (opaque; one from another list is a 400)",
    {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"},
)
_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "the contact id",
    "schema": {"type": "string", "minLength": 1, "maxLength": 128},
}
_FROM = _query(
    "from",
    "first day (bot timezone), YYYY-MM-DD; default 29 days before `to`",
    {"type": "string", "format": "date"},
)
_TO = _query(
    "to", "last day, included, YYYY-MM-DD; default today", {"type": "string", "format": "date"}
)


def _export(media: str, description: str) -> dict[str, Any]:
    return {
        "get": {
            "operationId": f"exportInteractions{media.split('/')[-1].title().replace('-', '')}",
            "summary": description,
            "description": "Every interaction (message, join, leave, friend request, click "
            "...) from `from` to `to`, oldest first, streamed. Columns: "
            "id, at, account_id, kind, room_id, contact_id, msg_type, text.",
            "parameters": [_FROM, _TO],
            "responses": _answers(
                {"description": description, "content": {media: {"schema": {"type": "string"}}}},
                "400",
            ),
        }
    }


_PATHS: dict[str, Any] = {
    "/api/contacts": {
        "get": {
            "operationId": "listContacts",
            "summary": "Contacts, in the order first seen, paged by cursor",
            "parameters": [
                _query("tag", "only contacts carrying this tag now"),
                _query("stage", "only contacts at this stage (e.g. pregnant, infant)"),
                _CURSOR,
                _LIMIT,
            ],
            "responses": _answers(_json("ContactPage", "a page of contacts"), "400"),
        }
    },
    "/api/contacts/{id}": {
        "get": {
            "operationId": "getContact",
            "summary": "One contact's 360 view: profile, tags with source and history, "
            "groups, orders, sequences, RFM",
            "parameters": [_ID],
            "responses": _answers(_json("Contact360", "the contact"), "400", "404"),
        }
    },
    "/api/contacts/{id}/timeline": {
        "get": {
            "operationId": "getTimeline",
            "summary": "One contact's interactions, newest first, paged by cursor",
            "parameters": [_ID, _CURSOR, _LIMIT],
            "responses": _answers(_json("Timeline", "a page of interactions"), "400", "404"),
        }
    },
    "/api/tags": {
        "get": {
            "operationId": "listTags",
            "summary": "Every tag carried now, with how many contacts carry it",
            "responses": _answers(_json("TagCounts", "the tags"), "400"),
        }
    },
    "/api/orders": {
        "post": {
            "operationId": "pushOrders",
            "summary": "Store orders (idempotent on order_id); needs the orders:write scope",
            "description": f"At most 1000 orders and {4 * 1024 * 1024} bytes per request. "
            "A bad order is reported in `errors`, the others are stored.",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("OrdersIn")}},
            },
            "responses": {
                **_answers(_json("IngestReport", "what was stored"), "400"),
                "413": _error("the body is too large or holds too many orders"),
                "503": _error("orders cannot be taken right now"),
            },
        }
    },
    "/api/metrics/overview": {
        "get": {
            "operationId": "metricsOverview",
            "summary": "The operating metrics of a date range (at most 366 days)",
            "parameters": [
                _FROM,
                _TO,
                _query("account", "only this WeChat account"),
                _query("room", "only this group"),
                _query("channel", "only contacts from this channel code"),
            ],
            "responses": _answers(_json("Overview", "the metrics"), "400"),
        }
    },
    "/api/interactions.jsonl": _export("application/x-ndjson", "interactions as JSON lines"),
    "/api/interactions.csv": _export("text/csv", "interactions as CSV with a header row"),
    "/api/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "security": [],
            "responses": {
                "200": {
                    "description": "the OpenAPI document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
}

_DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "mamabot open API",
        "version": VERSION,
        "description": "Contacts, tags, orders, metrics and interactions of mamabot, for "
        "the brand's own systems. Personal data: keep tokens secret. Each token "
        "(config.toml [[api_tokens]]) has scopes (read, orders:write) and a rate limit "
        "per minute; over it, 429 with Retry-After. An address that sends "
        f"{FAILURES_PER_MINUTE} requests without a valid token in a minute gets 429 until "
        "the minute ends. Parameters must not contain NUL characters (400). Every error is "
        '{"error": {"code", "message"}}.',
    },
    "paths": _PATHS,
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": _SCHEMAS,
        "responses": _RESPONSES,
    },
    "security": [{"bearer": []}],
}


def document() -> dict[str, Any]:
    """The OpenAPI document (a copy: callers may change it)."""
    return copy.deepcopy(_DOCUMENT)
