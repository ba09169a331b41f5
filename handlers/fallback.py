"""Last in the chain: a DM that nothing answered gets a gentle acknowledgement.

Groups never get a fallback (the bot must not chatter in a group), and a mother hears it at
most once per cooldown, so an ongoing chat with a human advisor is not interrupted.
"""

from __future__ import annotations

from bot.config import FallbackContent
from bot.events import Event, MessageReceived, MessageType
from bot.features import Feature, On, Platform
from bot.handler import Context, Flow
from bot.templates import render


class FallbackHandler:
    name = "fallback"

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        assert isinstance(event, MessageReceived)  # a text DM: the feature's filter says so
        if not event.text.strip():
            return None
        fallback = ctx.content.fallback
        if not fallback.enabled or not fallback.dm_reply.strip():
            return None
        if fallback.cooldown_seconds > 0 and not await ctx.kv.set_if_absent(
            f"fallback:{event.account_id}:{event.sender_id}", "1", ttl=fallback.cooldown_seconds
        ):
            return None
        values = {"name": event.sender_name, "bot": ctx.services.config.bot.name}
        await ctx.reply(render(fallback.dm_reply, values))
        return Flow.STOP


def feature(p: Platform) -> Feature:
    on = On((MessageReceived,), chat="dm", types=(MessageType.TEXT,))
    return Feature(
        name="fallback",
        handlers=[(FallbackHandler(), on)],
        content={"fallback.toml": FallbackContent},
    )
