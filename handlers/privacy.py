"""退订 / TD, 恢复订阅, and 删除我的信息 (with a confirmation), in a private chat.

These words work whatever else is going on (in the middle of a dialog too) and are always
confirmed to her. Opting out stops marketing sends only: her own questions are still
answered.

A deletion request waits 10 minutes for 确认删除; 算了 / 不删了 meanwhile withdraws it. The
request is remembered for a day after that, so a late 确认删除 is told it expired (and how
to ask again) instead of meeting silence or the generic acknowledgement.
"""

from __future__ import annotations

from bot.events import Event, MessageReceived, MessageType
from bot.features import Feature, On, Platform
from bot.handler import Context, Flow
from bot.text import as_word
from flows.dialog import kv_key
from storage import privacy

OPT_OUT = {"退订", "td", "取消订阅", "不要再推送", "别再推送了", "unsubscribe"}
OPT_IN = {"恢复订阅", "重新订阅", "订阅"}
FORGET = {"删除我的信息", "删除我的资料", "删除我的数据", "注销我的信息"}
CONFIRM = {"确认删除"}
# Her answer to "确定要删除吗", heard only while that question is open (10 minutes):
# otherwise 不用了 / 取消 are her words to a dialog, or plain chatter.
CANCEL = {
    "算了", "算了吧", "那算了", "算了算了", "还是算了", "不删了", "不删了吧", "不删", "先不删了",
    "还是不删了", "不用删了", "不要删", "不要删了", "别删", "别删了", "不用了", "取消",
    "取消删除",
}  # fmt: skip
CONFIRM_SECONDS = 600
REMEMBER_SECONDS = 24 * 3600  # to tell a late confirmation that it expired


OPTED_OUT = (
    "已为你退订推送，之后不会再主动给你发营销内容了🌷 有问题随时问我，回复“恢复订阅”可重新接收。"
)
ALREADY_OUT = "你已经退订过啦，不会再收到推送～回复“恢复订阅”可重新接收。"
OPTED_IN = "已恢复订阅💕 之后会按宝宝的阶段给你推送合适的内容。"
NOT_OUT = "你现在是订阅状态哦，会正常收到推送～"
ASK_CONFIRM = (
    "确定要删除你在这里的全部资料吗？包括宝宝阶段、城市、标签和问答记录，删除后无法恢复。"
    "确认的话请在10分钟内回复“确认删除”。"
)
FORGOTTEN = "已删除你的全部资料🙏 聊天里的记录已匿名化。以后有需要随时再找我。"
EXPIRED = (
    "这次的删除申请超过10分钟没有确认，已经失效了，你的资料还在哦。"
    "如果还想删除，请重新回复“删除我的信息”，再在10分钟内回复“确认删除”。"
)
NOTHING_TO_CONFIRM = (
    "现在没有等待确认的删除申请哦～如果想删除你在这里的资料，请先回复“删除我的信息”。"
)
CANCELLED = "好的，不删啦～你的资料都还在，有需要随时找我💕"


class PrivacyHandler:
    name = "privacy"

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        assert isinstance(event, MessageReceived)  # a text DM: the feature's filter says so
        word = as_word(event.text)
        contact = event.sender_id
        now = ctx.clock.now()
        confirm_key = f"privacy:forget:{event.account_id}:{contact}"
        if word in OPT_OUT:
            done = await privacy.opt_out(contact, now)
            await ctx.kv.delete(kv_key(contact))  # her dialogs ended with it
            await ctx.reply(OPTED_OUT if done else ALREADY_OUT)
            return Flow.STOP
        if word in OPT_IN:
            await ctx.reply(OPTED_IN if await privacy.opt_in(contact, now) else NOT_OUT)
            return Flow.STOP
        if word in FORGET:
            deadline = now.timestamp() + CONFIRM_SECONDS
            await ctx.kv.set(confirm_key, repr(deadline), ttl=REMEMBER_SECONDS)
            await ctx.reply(ASK_CONFIRM)
            return Flow.STOP
        if word in CONFIRM:
            await self._confirm(confirm_key, contact, now.timestamp(), ctx)
            return Flow.STOP
        if word in CANCEL and await self._withdraw(confirm_key, now.timestamp(), ctx):
            await ctx.reply(CANCELLED)
            return Flow.STOP
        return None

    @staticmethod
    async def _withdraw(confirm_key: str, now: float, ctx: Context) -> bool:
        """Drop her request if it is still open; whether it was."""
        deadline = _deadline(await ctx.kv.get(confirm_key))
        return deadline is not None and now <= deadline and await ctx.kv.delete(confirm_key)

    @staticmethod
    async def _confirm(confirm_key: str, contact: str, now: float, ctx: Context) -> None:
        deadline = _deadline(await ctx.kv.get(confirm_key))
        if deadline is None:
            await ctx.reply(NOTHING_TO_CONFIRM)
        elif now > deadline:
            await ctx.kv.delete(confirm_key)
            await ctx.reply(EXPIRED)
        elif token := await ctx.kv.acquire_lock(f"{confirm_key}:doing", ttl=600):
            # One deletion, even for two quick 确认删除. The request itself is dropped only
            # once it is done: a store outage mid-way leaves it for the retried event.
            try:
                if ctx.services.interactions is not None:
                    await ctx.services.interactions.flush()  # so her last messages go too
                if ctx.services.forget is not None:
                    await ctx.services.forget(contact)
                else:
                    await privacy.forget(contact)
            except BaseException:
                await ctx.kv.release_lock(f"{confirm_key}:doing", token)
                raise
            await ctx.kv.delete(confirm_key)
            await ctx.reply(FORGOTTEN)


def _deadline(value: str | None) -> float | None:
    """When her request stops counting; None when there is none. A bare mark (written
    before requests carried a deadline) lived only 10 minutes, so it is still in time."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return float("inf")


def feature(p: Platform) -> Feature:
    return Feature(
        name="privacy",
        handlers=[(PrivacyHandler(), On((MessageReceived,), chat="dm", types=(MessageType.TEXT,)))],
    )
