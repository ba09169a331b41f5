"""The open HTTP API: what the brand's other systems (ERP, CRM, the mini-program shop)
read and push, on the bot's web server next to the tracked links.

    GET  /api/contacts?tag=&stage=&cursor=&limit=    contacts, paged          read
    GET  /api/contacts/{id}                          her 360 view             read
    GET  /api/contacts/{id}/timeline?cursor=&limit=  her interactions         read
    GET  /api/tags                                   tags and how many carry  read
    POST /api/orders                                 push orders              orders:write
    GET  /api/metrics/overview?from=&to=&account=&room=&channel=              read
    GET  /api/interactions.jsonl?from=&to=           streamed export          read
    GET  /api/interactions.csv?from=&to=             streamed export          read
    GET  /api/openapi.json                           this API, described (no token)

Every request but the description needs `Authorization: Bearer <token>` (handlers/api/
access.py); every error is {"error": {"code", "message"}} as JSON. The data is personal:
the API is for trusted systems, and a forgotten mother appears only as her anonymised rows.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.features import Feature, Platform, Route
from bot.web import client_address
from handlers.api import export
from handlers.api.access import FAILURES_PER_MINUTE, RateLimit, bearer, identify
from handlers.api.openapi import document
from handlers.api.replies import ApiError, bad_request, error, ok
from storage import contact_view, metrics

log = logging.getLogger(__name__)

READ = "read"
ORDERS_WRITE = "orders:write"
DEFAULT_LIMIT = 50
# POST /api/orders: the body and the orders in one request. An ERP pushing more sends
# several requests (each idempotent on order id, so a retry is safe).
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_ORDERS = 1000
DEFAULT_DAYS = 30
MAX_METRIC_DAYS = 366
# Dates outside these years are a client's bug, not a range to compute.
MIN_YEAR, MAX_YEAR = 2000, 2999
MAX_ID = 128  # the contact id column
PAGE, RANGE = "cursor limit", "from to"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Api:
    def __init__(self, p: Platform) -> None:
        self.p = p
        self.services = p.services
        self.limits = RateLimit(p.services.kv, p.services.clock)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.services.config.bot.timezone)

    # ------------------------------------------------------------------ the gate

    def guarded(self, scope: str, handle: Handler, params: str = "") -> Handler:
        """`handle` behind the token, the scope and the rate limit; `params` names the
        query parameters it takes (any other is refused: a typo such as `?form=` must not
        quietly answer for the default range)."""
        known = frozenset(params.split())

        async def guarded_handle(request: web.Request) -> web.StreamResponse:
            refused = await self._gate(request, scope)
            if refused is not None:
                return refused
            unknown = sorted(set(request.query) - known)
            if unknown:
                named = ", ".join(repr(name[:40]) for name in unknown[:5])
                return error(400, "bad_request", f"unknown query parameter: {named}")
            if _has_nul(request):
                # PostgreSQL cannot store or compare NUL; no id or value of ours has one.
                return error(400, "bad_request", "parameters must not contain NUL characters")
            return await answered(handle, request)

        return guarded_handle

    async def _gate(self, request: web.Request, scope: str) -> web.Response | None:
        """The refusal of a request without a valid token, the scope or the quota; None
        for one that may go on. Only a request that may go on counts against the quota."""
        address = client_address(request, self.services.config.web.trusted_proxies)
        retry = await self.limits.address_blocked(address)
        if retry is not None:
            return error(
                429,
                "rate_limited",
                f"too many requests without a valid token; try again in {retry} s",
                {"Retry-After": str(retry)},
            )
        caller = identify(
            self.services.config.api_tokens, bearer(request.headers.get("Authorization"))
        )
        if caller is None:
            if await self.limits.failed(address):
                log.warning(
                    "api: an address sent %d requests without a valid token this minute; "
                    "it is refused until the minute ends",
                    FAILURES_PER_MINUTE,
                )
            return error(
                401,
                "unauthorized",
                "a valid API token is required: Authorization: Bearer <token>",
                {"WWW-Authenticate": 'Bearer realm="mamabot"'},
            )
        if scope not in caller.scopes:
            return error(403, "forbidden", f"this token lacks the {scope!r} scope")
        retry = await self.limits.retry_after(caller)
        if retry is not None:
            log.info("api: %s is over its rate limit", caller.name)
            return error(
                429,
                "rate_limited",
                f"more than {caller.requests_per_minute} requests a minute; try again in {retry} s",
                {"Retry-After": str(retry)},
            )
        return None

    # ------------------------------------------------------------------ contacts

    async def contacts(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        limit = _limit(query.get("limit"))
        try:
            page, cursor = await contact_view.list_contacts(
                tag=query.get("tag") or None,
                stage=query.get("stage") or None,
                cursor=query.get("cursor") or None,
                limit=limit,
                tz=self.tz,
            )
        except contact_view.BadCursor as exc:
            raise bad_request(str(exc)) from None
        return ok({"contacts": page, "next_cursor": cursor})

    async def contact(self, request: web.Request) -> web.StreamResponse:
        contact_id = _contact_id(request)
        view = await contact_view.contact_360(contact_id, tz=self.tz)
        if view is None:
            raise _no_contact()
        return ok(view)

    async def timeline(self, request: web.Request) -> web.StreamResponse:
        contact_id = _contact_id(request)
        limit = _limit(request.query.get("limit"))
        if not await contact_view.known(contact_id):
            raise _no_contact()
        try:
            page, cursor = await contact_view.timeline(
                contact_id, cursor=request.query.get("cursor") or None, limit=limit, tz=self.tz
            )
        except contact_view.BadCursor as exc:
            raise bad_request(str(exc)) from None
        return ok({"contact_id": contact_id, "events": page, "next_cursor": cursor})

    async def tags(self, request: web.Request) -> web.StreamResponse:
        return ok({"tags": await contact_view.tag_counts()})

    # ------------------------------------------------------------------ orders

    async def orders(self, request: web.Request) -> web.StreamResponse:
        records = _orders_in(await _body(request))
        try:
            service = self.p.need("orders", "service")
        except KeyError:
            log.error("api: POST /api/orders but this app has no orders service")
            raise ApiError(503, "unavailable", "orders cannot be taken right now") from None
        report = await service.ingest(records, "api")
        return ok(report.as_json())

    # ------------------------------------------------------------------ metrics

    async def overview(self, request: web.Request) -> web.StreamResponse:
        start, end = self._days(request, max_days=MAX_METRIC_DAYS)
        query = request.query
        filters = metrics.Filters(
            account_id=query.get("account") or None,
            room_id=query.get("room") or None,
            channel=query.get("channel") or None,
        )
        now = self.services.clock.now()
        # The live set: a channel's own id joins it at login. Copied per request so one
        # answer is worked out with one set.
        self_ids = frozenset(i for i in self.p.self_ids if i)
        try:
            figures = await metrics.overview(start, end, filters, self.tz, now, self_ids=self_ids)
        except ValueError as exc:
            # metrics refuses a range it will not compute (after from, too long); _days
            # checks the same, but a refusal must reach the caller as one.
            log.warning("api: metrics refused the range %s..%s: %s", start, end, exc, exc_info=True)
            raise bad_request(f"the range cannot be computed: {exc}") from None
        return ok(figures)

    def _days(self, request: web.Request, max_days: int | None) -> tuple[date, date]:
        """The from/to days of a request (both included); the last 30 days by default."""
        query = request.query
        today = self.services.clock.now().astimezone(self.tz).date()
        end = _day(query.get("to"), "to") or today
        start = _day(query.get("from"), "from") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise bad_request("from must not be after to")
        if max_days is not None and (end - start).days + 1 > max_days:
            raise bad_request(f"the range may span at most {max_days} days")
        return start, end

    # ------------------------------------------------------------------ export

    def exporter(self, fmt: str) -> Handler:
        async def export_interactions(request: web.Request) -> web.StreamResponse:
            start_day, end_day = self._days(request, max_days=None)
            tz = self.tz
            start = datetime.combine(start_day, time(), tz)
            end = datetime.combine(end_day + timedelta(days=1), time(), tz)
            name = f"interactions-{start_day.isoformat()}-{end_day.isoformat()}"
            return await export.stream(request, fmt, start, end, tz, name)

        return export_interactions

    # ------------------------------------------------------------------ routes

    def routes(self) -> list[Route]:
        served = [
            Route("GET", "/api/openapi.json", openapi_json),
            Route("GET", "/api/contacts", self.guarded(READ, self.contacts, PAGE + " tag stage")),
            Route("GET", "/api/contacts/{id}", self.guarded(READ, self.contact)),
            Route("GET", "/api/contacts/{id}/timeline", self.guarded(READ, self.timeline, PAGE)),
            Route("GET", "/api/tags", self.guarded(READ, self.tags)),
            Route("POST", "/api/orders", self.guarded(ORDERS_WRITE, self.orders)),
            Route(
                "GET",
                "/api/metrics/overview",
                self.guarded(READ, self.overview, RANGE + " account room channel"),
            ),
            Route(
                "GET", "/api/interactions.jsonl", self.guarded(READ, self.exporter("jsonl"), RANGE)
            ),
            Route("GET", "/api/interactions.csv", self.guarded(READ, self.exporter("csv"), RANGE)),
        ]
        return [*served, Route("*", "/api/{tail:.*}", elsewhere(served))]


async def answered(handle: Handler, request: web.Request) -> web.StreamResponse:
    """The handler's answer; a refusal or a failure as a JSON error."""
    try:
        return await handle(request)
    except ApiError as refused:
        return refused.response()
    except export.StreamCut:
        raise  # the response has started: only dropping the connection is left
    except Exception:
        log.exception("api: %s %s failed", request.method, request.path)
        return error(500, "internal_error", "the request failed on our side; try again later")


async def openapi_json(request: web.Request) -> web.StreamResponse:
    return web.json_response(document(), headers={"Cache-Control": "no-cache"})


def elsewhere(served: list[Route]) -> Handler:
    """Any other /api path: 405 for a known path with another method, else 404, as JSON."""
    patterns = [
        (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(r.path)) + "$"), r.method)
        for r in served
    ]

    async def not_here(request: web.Request) -> web.StreamResponse:
        allowed = sorted({method for pattern, method in patterns if pattern.match(request.path)})
        if allowed:
            return error(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here; use {', '.join(allowed)}",
                {"Allow": ", ".join(allowed)},
            )
        return error(404, "not_found", "no such API endpoint; see /api/openapi.json")

    return not_here


# --------------------------------------------------------------------------- parsing


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,4}", raw) or not 1 <= int(raw) <= contact_view.MAX_PAGE:
        raise bad_request(f"limit must be a whole number from 1 to {contact_view.MAX_PAGE}")
    return int(raw)


def _day(raw: str | None, name: str) -> date | None:
    if raw is None:
        return None
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        raise bad_request(f"{name} must be a date as YYYY-MM-DD") from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise bad_request(f"{name} must be a date between {MIN_YEAR} and {MAX_YEAR}")
    return day


def _has_nul(request: web.Request) -> bool:
    texts = [*request.query.keys(), *request.query.values(), *request.match_info.values()]
    return any("\x00" in text for text in texts)


def _contact_id(request: web.Request) -> str:
    contact_id = request.match_info["id"]
    if not contact_id or len(contact_id) > MAX_ID:
        raise _no_contact()
    return contact_id


def _no_contact() -> ApiError:
    return ApiError(404, "not_found", "no contact with this id")


async def _body(request: web.Request) -> Any:
    """The request's JSON body, read up to MAX_BODY_BYTES."""
    too_large = ApiError(
        413, "payload_too_large", f"the body may be at most {MAX_BODY_BYTES} bytes"
    )
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_large
    data = bytearray()
    while True:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_BODY_BYTES:
            raise too_large
    try:
        return json.loads(bytes(data).decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "invalid_json", "the body is not valid JSON in UTF-8") from None


def _orders_in(body: Any) -> list[dict[str, Any]]:
    """The orders of a body: {"orders": [...]}, a list of orders, or one order."""
    if isinstance(body, dict) and "orders" in body:
        body = body["orders"]
    elif isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        raise bad_request('send {"orders": [...]}, a list of orders, or one order object')
    if len(body) > MAX_ORDERS:
        raise ApiError(
            413, "payload_too_large", f"at most {MAX_ORDERS} orders per request; send several"
        )
    for index, record in enumerate(body):
        if not isinstance(record, dict):
            raise bad_request(f"orders[{index}] is not an object")
    return body


def feature(p: Platform) -> Feature:
    """The open HTTP API's routes."""
    return Feature(name="api", routes=Api(p).routes())
