"""Tracked links in outgoing messages: `{link:ID}` in a text becomes
`<public base URL>/l/<token>`, one token per message it goes out in.

A token is 128 random bits (URL-safe base64): unguessable, so a click proves the link was
seen. Each token is stored with its target, its tags and whom the message went to
(storage/links.py) before the text is handed to the outbox; the links feature serves
`GET /l/<token>` and counts the click.

A seeded app (replay, tests) draws tokens from its seeded random source, so a replay
script can name the token it clicks; a live bot always uses `secrets`.
"""

from __future__ import annotations

import base64
import random
import re
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING

from storage import links as store

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import LinkSpec

_REF = re.compile(r"\{link:([^{}]*)\}")
TOKEN_BYTES = 16  # 128 bits


class LinkMaker:
    def __init__(self, clock: Clock, base_url: str, rng: random.Random | None = None) -> None:
        self.clock = clock
        self.base_url = base_url.rstrip("/")
        self._rng = rng

    def token(self) -> str:
        raw = (
            self._rng.getrandbits(TOKEN_BYTES * 8).to_bytes(TOKEN_BYTES, "big")
            if self._rng is not None
            else secrets.token_bytes(TOKEN_BYTES)
        )
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def url(self, token: str) -> str:
        return f"{self.base_url}/l/{token}"

    async def render(
        self,
        text: str,
        links: Sequence[LinkSpec],
        source: str,
        *,
        contact_id: str | None = None,
        room_id: str | None = None,
        account_id: str | None = None,
    ) -> str:
        """The text with each of its links made trackable for this one message (to
        `contact_id` by DM, or to the group `room_id`). A link the text does not name
        with {link:ID} goes on its own line at the end."""
        urls: dict[str, str] = {}
        now = self.clock.now()
        for link in links:
            token = self.token()
            await store.create(
                token,
                link.id,
                link.url,
                link.tags,
                source,
                now,
                contact_id=contact_id,
                room_id=room_id,
                account_id=account_id,
            )
            urls[link.id] = self.url(token)
        named = set(_REF.findall(text))
        out = _REF.sub(lambda m: urls.get(m.group(1), m.group(0)), text)
        extra = [urls[link.id] for link in links if link.id not in named]
        if extra:
            out = out.rstrip() + "\n" + "\n".join(extra)
        return out
