"""One permission object for admin and guard: roles by contact id, cheapest check first."""

from __future__ import annotations

from pathlib import Path

from bot.events import MessageReceived
from bot.handler import Context
from bot.permissions import COMMANDERS, Permissions, Role
from storage import guard
from tests.harness import BotUnderTest, copy_project


def context(bot: BotUnderTest) -> Context:
    account, now = bot.channel.account_id, bot.clock.now()
    event = MessageReceived("e1", account, now, sender_id="x", text="hi", room="R1")
    return Context(event=event, services=bot.app.services, handler_name="test")


async def test_each_role_is_decided_by_contact_id(tmp_path: Path) -> None:
    copy_project(tmp_path)
    config = (tmp_path / "config.toml").read_text(encoding="utf-8")
    config = config.replace("super_admins = []", 'super_admins = ["boss"]')
    group = 'match = "孕妈交流群"\ntags = ["孕妈群"]\nadmins = '
    assert group + "[]" in config
    config = config.replace(group + "[]", group + '["helper"]')
    (tmp_path / "config.toml").write_text(config, encoding="utf-8")
    async with BotUnderTest(tmp_path) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "helper", "a", "v", "m"])
        bot.world.add_contact("m", "群主")  # a member who took the owner's display name
        ctx = context(bot)
        await guard.allow("a", bot.clock.now())
        await ctx.add_tag("v", "VIP", source="admin")
        permissions = Permissions({"bot"})
        expected = {
            "bot": Role.BOT,
            "boss": Role.SUPER_ADMIN,
            "o": Role.OWNER,
            "helper": Role.ADMIN,
            "a": Role.ALLOWED,
            "v": Role.VIP,
        }
        for contact, role in expected.items():
            for other in Role:
                holds = await permissions.has_any(ctx, "R1", contact, {other}, vip_tags=["VIP"])
                assert holds == (other is role), (contact, other)
        assert not await permissions.is_protected(ctx, "R1", "m", ["VIP"])
        assert not await permissions.may_command(ctx, "R1", "m")
        commanders = [c for c in expected if await permissions.may_command(ctx, "R1", c)]
        assert commanders == ["boss", "o", "helper"]
        assert {expected[c] for c in commanders} == COMMANDERS
        assert all([await permissions.is_protected(ctx, "R1", c, ["VIP"]) for c in expected])
        assert not await permissions.is_protected(ctx, "R1", "v", [])  # VIP only if tagged so
        assert not await permissions.may_command(ctx, "R2", "helper")  # admin of R1 only
