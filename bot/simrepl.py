"""The terminal simulator: type as a mother in a group or a DM and watch what the bot does.

Lines starting with / are simulator commands; anything else is a message from the current
persona in the current room (or DM). The bot's actions and the tags it writes are printed
as they happen. The clock follows real time; /tick jumps it ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import datetime
from typing import Any

from bot.app import App
from bot.channels.sim import SimChannel
from bot.clock import parse_duration
from storage import people

HELP = """\
命令 (commands):
  /as 名字            switch persona (她是谁)
  /room 群名          switch to a group (created if new); /dm for a private chat with the bot
  /join  /leave       the persona joins / leaves the current group
  /friend 打招呼的话   the persona sends a friend request with this hello text
  /tick 3d            move the clock ahead (s m h d w)
  /tags               the persona's tags
  /reload             reload content/
  /quit               leave
Anything else is a message from the persona."""


def describe(
    record: dict[str, Any], names: dict[str, str], topics: dict[str, str] | None = None
) -> str:
    topics = topics or {}
    at = datetime.fromisoformat(record["at"]).strftime("%m-%d %H:%M:%S")
    action = record["action"]
    if action == "say":
        where = (
            f"群 {topics.get(record['room'], record['room'])}"
            if record["room"]
            else f"私聊 {names.get(record['to'], record['to'])}"
        )
        return f"[{at}] 🤖 → {where}: {record['text']}"
    if action == "tag":
        sign = "+" if record["op"] == "add" else "-"
        who = names.get(record["contact"], record["contact"])
        return f"[{at}] 🏷  {who} {sign}{record['tag']} ({record['source']})"
    if action == "kick":
        who = names.get(record["contact"], record["contact"])
        room = topics.get(record["room"], record["room"])
        return f"[{at}] 🚫 踢出 {who} ← {room}: {record.get('reason', '')}"
    if action == "accept_friend":
        return f"[{at}] 🤝 通过好友 {names.get(record['contact'], record['contact'])}"
    return f"[{at}] {action}: {record}"


class Repl:
    def __init__(self, app: App) -> None:
        self.app = app
        self.channel: SimChannel = app.sim_channels()[0]
        self.world = self.channel.world
        self.persona = "小美"
        self.room: str | None = None
        self.lock = asyncio.Lock()
        app.action_observers.append(lambda r: print(self.describe(r), flush=True))

    def describe(self, record: dict[str, Any]) -> str:
        topics = {room_id: room.topic for room_id, room in self.world.rooms.items()}
        return describe(record, self.world.contacts, topics)

    async def setup(self) -> None:
        room = self.world.add_room(
            "R-1", "孕妈交流群", "群主", ["群主", self.channel.self_id, "小美"]
        )
        self.world.add_contact("群主", "群主")
        self.world.add_contact("小美", "小美")
        await people.upsert_room(
            room.room_id,
            self.channel.account_id,
            self.app.clock.now(),
            topic=room.topic,
            owner_id=room.owner_id,
        )
        self.room = room.room_id

    def prompt(self) -> str:
        where = self.world.rooms[self.room].topic if self.room else "私聊"
        return f"{self.persona}@{where}> "

    async def handle_line(self, line: str) -> bool:
        """Apply one input line. False means quit."""
        line = line.strip()
        if not line:
            return True
        if line.startswith("/"):
            return await self.command(line)
        # "@名字" picked from the member list, as WeChat sends it: with the mention ids.
        mentions = self.world.picked_mentions(self.room, line)
        self.channel.push(
            self.channel.message(self.persona, line, room_id=self.room, mentions=mentions)
        )
        return True

    async def command(self, line: str) -> bool:
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        ch, world = self.channel, self.world
        if name in ("/quit", "/exit"):
            return False
        if name == "/help":
            print(HELP)
        elif name == "/as" and arg:
            self.persona = arg
            world.add_contact(arg, arg)
        elif name == "/room" and arg:
            room = world.room_by_topic(arg) or world.rooms.get(arg)
            if room is None:
                room = world.add_room(
                    f"R-{len(world.rooms) + 1}", arg, "群主", ["群主", ch.self_id]
                )
                await people.upsert_room(
                    room.room_id,
                    ch.account_id,
                    self.app.clock.now(),
                    topic=room.topic,
                    owner_id="群主",
                )
            self.room = room.room_id
        elif name == "/dm":
            self.room = None
        elif name == "/join" and self.room:
            ch.push(ch.join(self.room, self.persona, self.persona))
        elif name == "/leave" and self.room:
            ch.push(ch.leave(self.room, self.persona))
        elif name == "/friend":
            ch.push(ch.friend_request(self.persona, self.persona, arg))
        elif name == "/tick" and arg:
            try:
                delta = parse_duration(arg)
            except ValueError:
                print("用法: /tick 30s | 5m | 2h | 3d | 1w")
                return True
            await self.app.advance_to(self.app.clock.now() + delta)
            print(f"⏰ {self.app.clock.now():%Y-%m-%d %H:%M}")
        elif name == "/tags":
            tags = await self.app.tags.tags_of(self.persona)
            print("、".join(f"{t}({s})" for t, s in tags.items()) or "(没有标签)")
        elif name == "/reload":
            problems = self.app.content.reload()
            print("\n".join(problems) if problems else "content reloaded")
        else:
            print("不认识的命令，输入 /help 看看")
        return True


async def run_repl(app: App) -> int:
    await app.open()
    repl = Repl(app)
    await repl.setup()
    print(HELP, flush=True)
    loop = asyncio.get_running_loop()

    async def ticker() -> None:
        # Time passes in the simulator too: batched welcomes and retries fire on their own.
        while True:
            await asyncio.sleep(1)
            async with repl.lock:
                await app.settle()

    tick_task = asyncio.create_task(ticker())
    try:
        while True:
            if sys.stdin.isatty():
                print(repl.prompt(), end="", flush=True)
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            async with repl.lock:
                if not await repl.handle_line(line):
                    break
                await app.settle()
    finally:
        tick_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tick_task
        await app.stop(timeout=5)
    return 0
