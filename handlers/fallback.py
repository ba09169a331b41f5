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
        await self._tell_staff(event, ctx)
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

    @staticmethod
    async def _tell_staff(event: MessageReceived, ctx: Context) -> None:
        """Her question reaches a person: every on-duty staff member gets it by DM, with
        her name (never her id)."""
        staff = [s for s in ctx.services.config.bot.staff if s != event.sender_id]
        if not staff:
            return
        who = event.sender_name or await ctx.display_name(event.sender_id)
        text = f"📩 {who} 私聊提问，还没有自动回答：\n{event.text.strip()}"
        for member in staff:
            await ctx.say(contact_id=member, text=text)


def feature(p: Platform) -> Feature:
    on = On((MessageReceived,), chat="dm", types=(MessageType.TEXT,))
    handler = FallbackHandler()
    return Feature(
        name="fallback",
        handlers=[(handler, on)],
        content={"fallback.toml": FallbackContent},
        # The dialogs hand it a question of hers no keyword answered mid-dialog.
        exports={"handler": handler},
    )
