"""A running mamabot in driven mode, for conversation tests that read like the conversation.

async with BotUnderTest() as bot:
    bot.room("R1", "孕妈交流群", owner="owner1", members=["owner1", "a"])
    await bot.join("R1", "b", "小美")
    await bot.tick("30s")
    assert bot.said_in("R1")[-1]["mentions"] == ["b"]
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.app import App, AppSettings
from bot.channels.sim import SimChannel, SimWorld
from bot.clock import FakeClock, parse_duration
from bot.events import MessageType
from bot.features import FeatureFactory
from storage import people

REPO = Path(__file__).resolve().parent.parent
START = datetime.fromisoformat("2026-11-25T09:00:00+08:00")


def copy_project(tmp: Path) -> Path:
    """A private copy of config.toml and content/ that a test may edit."""
    shutil.copy(REPO / "config.toml", tmp / "config.toml")
    shutil.copytree(REPO / "content", tmp / "content")
    return tmp


def configure(
    tmp: Path,
    *,
    super_admins: Sequence[str] = (),
    rooms: Sequence[str] = (),
    admin: dict[str, Any] | None = None,
) -> Path:
    """A private project (copy_project) whose config.toml names super admins, lists more
    groups under [[rooms]] (the brand's groups for the # commands), and sets [admin]."""
    copy_project(tmp)
    path = tmp / "config.toml"
    text = path.read_text(encoding="utf-8")
    if super_admins:
        listed = ", ".join(f'"{c}"' for c in super_admins)
        text = text.replace("super_admins = []", f"super_admins = [{listed}]", 1)
    for name in rooms:
        text += f'\n[[rooms]]\nmatch = "{name}"\n'
    for key, value in (admin or {}).items():
        line = json.dumps(value, ensure_ascii=False)  # a TOML-compatible literal
        text, found = re.subn(rf"(?m)^{key} = .*$", f"{key} = {line}", text, count=1)
        assert found, f"[admin] has no {key}"
    path.write_text(text, encoding="utf-8")
    return tmp


class BotUnderTest:
    def __init__(
        self,
        base_dir: Path = REPO,
        *,
        database_url: str = "sqlite://:memory:",
        redis_url: str = "",
        kv_prefix: str = "mamabot:",
        start: datetime = START,
        seed: int = 0,
        pace: bool = False,
        world: SimWorld | None = None,
        handler_errors: bool = False,
        features: dict[str, FeatureFactory] | None = None,
    ) -> None:
        # A handler that raises is logged and skipped by the dispatcher, which would let a
        # broken handler pass a test that only checks what was said: unless the test says
        # it expects one, any handler error fails it.
        self.handler_errors = handler_errors
        self.clock = FakeClock(start)
        self.world = world or SimWorld()
        self.app = App.build(
            AppSettings(
                base_dir=base_dir,
                database_url=database_url,
                redis_url=redis_url,
                kv_prefix=kv_prefix,
                clock=self.clock,
                seed=seed,
                pace_sim=pace,
                features=features,
            ),
            world=self.world,
        )
        self.channel: SimChannel = self.app.sim_channels()[0]
        self.actions: list[dict[str, Any]] = []
        self.app.action_observers.append(self.actions.append)

    async def __aenter__(self) -> BotUnderTest:
        await self.app.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.stop(timeout=5)
        errors = self.app.dispatcher.errors
        if not self.handler_errors and not exc[0] and errors:
            raise AssertionError(f"{errors} handler error(s) while the test ran: see the log")

    # --------------------------------------------------------------- the world

    def room(self, room_id: str, topic: str, owner: str, members: list[str]) -> None:
        self.world.add_room(room_id, topic, owner, members)

    async def register_room(self, room_id: str) -> None:
        room = self.world.rooms[room_id]
        await people.upsert_room(
            room_id,
            self.channel.account_id,
            self.clock.now(),
            topic=room.topic,
            owner_id=room.owner_id,
        )

    # --------------------------------------------------------------- what mothers do

    async def says(
        self,
        contact: str,
        text: str,
        *,
        room: str | None = None,
        name: str = "",
        type: MessageType = MessageType.TEXT,
        mentions: list[str] | None = None,
        image: bytes | None = None,
    ) -> list[dict[str, Any]]:
        if name:
            self.world.add_contact(contact, name)
        before = len(self.actions)
        self.channel.push(
            self.channel.message(
                contact, text, room_id=room, type=type, mentions=mentions or [], image=image
            )
        )
        await self.app.settle()
        return self.actions[before:]

    async def join(
        self, room: str, contact: str, name: str = "", inviter: str | None = None
    ) -> None:
        self.channel.push(self.channel.join(room, contact, name, inviter))
        await self.app.settle()

    async def leave(self, room: str, contact: str) -> None:
        self.channel.push(self.channel.leave(room, contact))
        await self.app.settle()

    async def friend_request(
        self, contact: str, name: str = "", hello: str = ""
    ) -> list[dict[str, Any]]:
        before = len(self.actions)
        self.channel.push(self.channel.friend_request(contact, name, hello))
        await self.app.settle()
        return self.actions[before:]

    async def tick(self, duration: str) -> list[dict[str, Any]]:
        before = len(self.actions)
        await self.app.advance_to(self.clock.now() + parse_duration(duration))
        return self.actions[before:]

    # --------------------------------------------------------------- what the bot did

    def said_in(self, room: str) -> list[dict[str, Any]]:
        return [a for a in self.actions if a["action"] == "say" and a["room"] == room]

    def said_to(self, contact: str) -> list[dict[str, Any]]:
        return [a for a in self.actions if a["action"] == "say" and a["to"] == contact]

    def of(self, action: str) -> list[dict[str, Any]]:
        return [a for a in self.actions if a["action"] == action]
