"""Tracked links: the click. Owns `GET /l/<token>` (a 302 to the link's target) and the
click itself, which replay and the simulator reach through the `clicks` export.

A click is always counted and logged as an interaction. Only the mother the link was sent
to by DM is tagged and starts automation (the link-clicked trigger): a forwarded link, or
a link posted in a group, says nothing about who opened it, so it tags nobody.

Over HTTP we cannot tell who clicked, so a click there is taken as hers: the token is 128
random bits, sent to her alone, and whoever holds it got it from her.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from datetime import datetime

from aiohttp import web

from bot.features import Feature, Platform, Route
from bot.handler import Services
from bot.triggers import Trigger
from storage import links as store
from storage.interactions import MAX_EVENT_ID, InteractionRow

log = logging.getLogger(__name__)

# What bot.links makes (URL-safe base64), with room for a longer token later; anything
# else is answered as unknown without asking the database.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
TAG_SOURCE = "link"


def well_formed(token: str) -> bool:
    return _TOKEN.fullmatch(token) is not None


class Clicks:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def click(self, token: str, clicker: str | None = None) -> str | None:
        """A click on the link with this token, by `clicker` (None: the one it was sent
        to). Returns where to send her, None for an unknown token. Only the lookup may
        raise: once we know the target, a failure to count or tag is logged and she still
        gets the page she asked for."""
        if not well_formed(token):
            return None
        link = await store.get(token)
        if link is None:
            return None
        try:
            await self._take(link, token, clicker)
        except Exception:
            log.exception("link %s: the click could not be counted or credited", link.link_id)
        return link.url

    async def _take(self, link: store.Link, token: str, clicker: str | None) -> None:
        now = self.services.clock.now()
        await store.count_click(token, now)
        self._record(link, token, now)
        recipient = link.contact_id if link.room_id is None else None
        if recipient is not None and clicker in (None, recipient):
            await self._credit(link, recipient, now)

    def _record(self, link: store.Link, token: str, now: datetime) -> None:
        if self.services.interactions is None:
            return
        # The token itself stays out of the log: whoever reads it could click as her.
        digest = hashlib.sha256(token.encode()).hexdigest()[:16]
        self.services.interactions.record(
            InteractionRow(
                now,
                link.account_id or "",
                f"click:{digest}:{now.isoformat()}"[:MAX_EVENT_ID],
                "click",
                link.room_id,
                link.contact_id or "",
                None,
                link.link_id,
            )
        )

    async def _credit(self, link: store.Link, contact_id: str, now: datetime) -> None:
        for tag in link.tags:
            await self.services.tags.add(contact_id, tag, source=TAG_SOURCE, detail=link.link_id)
        await self.services.triggers.fire(
            Trigger("link", contact_id, link.link_id, now, link.account_id)
        )


# The pages a phone shows when there is nothing to redirect to. Fixed text: nothing from
# the request is echoed back.
_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family:sans-serif;text-align:center;padding:3em 1em;color:#444">
<h1 style="font-size:1.3em">{title}</h1><p>{body}</p></body></html>
"""
NOT_FOUND = _PAGE.format(
    title="链接不存在", body="这个链接已失效或地址不完整，请回到微信里重新打开。"
)
UNAVAILABLE = _PAGE.format(title="请稍后再试", body="系统有点忙，请过一会儿再点一次链接。")
# Every click must reach us (a cached redirect is a click we never count), and the target
# learns nothing of the token.
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _page(status: int, html: str) -> web.Response:
    return web.Response(
        status=status, text=html, content_type="text/html", charset="utf-8", headers=_HEADERS
    )


def route(clicks: Clicks) -> Route:
    async def open_link(request: web.Request) -> web.StreamResponse:
        try:
            url = await clicks.click(request.match_info["token"])
        except Exception:
            # The store is away (or we broke): one click lost, never the server.
            log.exception("tracked link: lookup failed, answered 503")
            return _page(503, UNAVAILABLE)
        if url is None:
            return _page(404, NOT_FOUND)
        return web.Response(status=302, headers={**_HEADERS, "Location": url})

    return Route("GET", "/l/{token}", open_link)


def clicks_in(features: Sequence[Feature]) -> Clicks:
    """The click of an assembled app (replay and the simulator click without HTTP)."""
    for feature in features:
        if feature.name == "links":
            clicks: Clicks = feature.exports["clicks"]
            return clicks
    raise LookupError("this app has no links feature")


def feature(p: Platform) -> Feature:
    """Tracked links: the redirect and the click."""
    clicks = Clicks(p.services)
    return Feature(name="links", routes=[route(clicks)], exports={"clicks": clicks})
