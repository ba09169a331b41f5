"""退订 / TD, 恢复订阅, and 删除我的信息 (with a confirmation), in a private chat.

These words work whatever else is going on (in the middle of a dialog too) and are always
confirmed to her. Opting out stops marketing sends only: her own questions are still
answered.
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
CONFIRM_SECONDS = 600


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
            await ctx.kv.set(confirm_key, "1", ttl=CONFIRM_SECONDS)
            await ctx.reply(ASK_CONFIRM)
            return Flow.STOP
        if word in CONFIRM and await ctx.kv.delete(confirm_key):
            if ctx.services.interactions is not None:
                await ctx.services.interactions.flush()  # so her last messages go too
            if ctx.services.forget is not None:
                await ctx.services.forget(contact)
            else:
                await privacy.forget(contact)
            await ctx.reply(FORGOTTEN)
            return Flow.STOP
        return None


def feature(p: Platform) -> Feature:
    return Feature(
        name="privacy",
        handlers=[(PrivacyHandler(), On((MessageReceived,), chat="dm", types=(MessageType.TEXT,)))],
    )
