"""A newcomer's first messages weigh more with the guard: up to a warning, never by
themselves to a kick (issue 11, item 7). Through the real dispatcher and the simulator."""

from __future__ import annotations

from typing import Any

from storage.models import GuardAudit, GuardBan
from tests.harness import BotUnderTest


def kinds(actions: list[dict[str, Any]]) -> list[str]:
    return [a["action"] for a in actions]


async def test_a_newcomer_leaving_her_phone_number_with_a_question_is_warned_not_kicked() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o"])
        await bot.join("R1", "n", "新妈妈")
        await bot.tick("31s")  # the batched welcome
        done = await bot.says("n", "我的电话13812345678，宝宝湿疹怎么办", room="R1")
        assert "kick" not in kinds(done), done
        (warning,) = [a for a in done if a["action"] == "say" and a.get("mentions") == ["n"]]
        assert "留了手机号" in warning["text"] and "第1次提醒" in warning["text"]
        assert not await GuardBan.filter(contact_id="n").exists()
        audit = await GuardAudit.filter(contact_id="n").values_list("action", flat=True)
        assert list(audit) == ["warn"]


async def test_a_newcomers_ad_is_still_kicked_on_its_own_evidence() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o"])
        await bot.join("R1", "s", "小广告")
        await bot.tick("31s")
        ad = await bot.says("s", "加我V❤信 mama88 日赚300", room="R1")
        assert kinds(ad)[0] == "kick" and ad[0]["contact"] == "s"
        assert await GuardBan.filter(contact_id="s").exists()
