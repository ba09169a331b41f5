"""The terminal simulator: type as a mother in a group or a DM and watch what the bot does.

Lines starting with / are simulator commands; anything else is a message from the current
persona in the current room (or DM). The bot's actions and the tags it writes are printed
as they happen. The clock follows real time; /tick jumps it ahead. Edits to content/ are
picked up by themselves, as in the running bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from datetime import datetime, tzinfo
from typing import Any, TextIO

from bot.app import App
from bot.channels.sim import SimChannel
from bot.clock import parse_duration
from bot.config import ConfigError
from handlers.admin import COMMANDS as ADMIN_COMMANDS
from handlers.links import clicks_in
from storage import people

HELP = """\
命令 (commands):
  /as 名字            换一个人说话 (switch persona)；/as 群主 就是群主，可以用 #帮助 等群管命令
  /room 群名          换到一个群 (新名字会新建一个群，群主是“群主”)；/dm 和机器人私聊
  /join  /leave       当前的人加入 / 退出当前的群
  /friend 打招呼的话   当前的人加机器人为好友，附上这句话
  /tick 3d            时间快进 (s 秒 m 分 h 时 d 天 w 周)
  /click 链接 [名字]   点开机器人发的链接 (…/l/xxxx 或只写 xxxx)；默认是收到链接的人点的
  /tags               当前的人的标签
  /cast               列出所有群、群主和成员
  /reload             马上重新加载 content/ (改了文件会自动加载)
  /reset              清空模拟器的数据库，从头再来
  /quit               退出
其他输入都是当前的人发的消息；写 @名字 就像在微信里从成员列表里选了她。"""

USAGE = {
    "/as": "用法：/as 名字   比如 /as 小丽  （/as 群主 切换成群主）",
    "/room": "用法：/room 群名   比如 /room 孕妈交流群",
    "/tick": "用法：/tick 30s | 5m | 2h | 3d | 1w",
    "/click": "用法：/click 链接 [名字]   比如 /click http://127.0.0.1:8080/l/AbC… 小丽",
}


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
        text = record["text"]
        # Mentions the text does not show already, as WeChat shows them: "@名字 " first.
        shown = [
            f"@{names.get(m, m)}"
            for m in record.get("mentions") or []
            if f"@{names.get(m, m)}" not in text
        ]
        if shown:
            text = " ".join(shown) + " " + text
        return f"[{at}] 🤖 → {where}: {text}"
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


def link_token(link: str) -> str:
    """The token of a tracked link as typed: the whole address or the token alone."""
    token = link.rsplit("/l/", 1)[-1]
    return token.split("?", 1)[0].split("#", 1)[0].strip("/")


class _AbovePrompt:
    """A log stream for a terminal: each line is written over the prompt (cleared
    first) and the prompt is drawn again after it, so logs never run into what she types."""

    def __init__(self, stream: TextIO, prompt: Callable[[], str]) -> None:
        self.stream = stream
        self.prompt = prompt

    def write(self, text: str) -> int:
        self.stream.write("\r\x1b[K" + text)
        if text.endswith("\n"):
            self.stream.write(self.prompt())
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def logs_for_the_terminal(tz: tzinfo, prompt: Callable[[], str] | None = None) -> None:
    """Log times on the bot's clock zone (the replies' times are), and, on a terminal,
    log lines above the prompt."""

    def converter(seconds: float | None) -> time.struct_time:
        return datetime.fromtimestamp(seconds or 0.0, tz).timetuple()

    for handler in logging.getLogger().handlers:
        if handler.formatter is not None:
            handler.formatter.converter = converter
        if prompt is not None and isinstance(handler, logging.StreamHandler):
            stream = handler.stream
            if isinstance(stream, _AbovePrompt):  # a second session, after /reset
                stream = stream.stream
            handler.setStream(_AbovePrompt(stream, prompt))


class Repl:
    def __init__(self, app: App, *, can_reset: bool = False) -> None:
        self.app = app
        self.can_reset = can_reset
        self.reset_requested = False
        self.channel: SimChannel = app.sim_channels()[0]
        self.world = self.channel.world
        self.persona = "小美"
        self.room: str | None = None
        self.lock = asyncio.Lock()
        app.action_observers.append(lambda r: print(self.describe(r), flush=True))

    def describe(self, record: dict[str, Any]) -> str:
        topics = {room_id: room.topic for room_id, room in self.world.rooms.items()}
        return describe(record, self.world.contacts, topics)

    def cast(self) -> str:
        """Who is where: each group with its owner and members, and who is typing."""
        names = self.world.contacts
        lines = ["演员表 (cast):"]
        for room in self.world.rooms.values():
            members = [
                names.get(m, m)
                for m in room.members
                if m != room.owner_id and m != self.channel.self_id
            ]
            owner = names.get(room.owner_id or "", room.owner_id or "（无）")
            lines.append(
                f"  群「{room.topic}」 群主：{owner}  成员：{'、'.join(members) or '（无）'}"
            )
        where = f"群「{self.world.rooms[self.room].topic}」" if self.room else "私聊"
        lines.append(f"  你现在是 {names.get(self.persona, self.persona)}，在{where}")
        return "\n".join(lines)

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
        return await self.say(line)

    async def say(self, line: str) -> bool:
        """The persona sends `line` where she is."""
        if self.room is not None and self.persona not in self.world.rooms[self.room].members:
            topic = self.world.rooms[self.room].topic
            print(f"{self.persona} 不在群「{topic}」里，先 /join 加入，或 /dm 私聊")
            return True
        # "@名字" picked from the member list, as WeChat sends it: with the mention ids.
        mentions = self.world.picked_mentions(self.room, line)
        self.channel.push(
            self.channel.message(self.persona, line, room_id=self.room, mentions=mentions)
        )
        return True

    async def click(self, arg: str) -> None:
        """Open a link the bot sent, as `name` (default: the one it was sent to)."""
        link, _, who = arg.partition(" ")
        clicker = who.strip() or None
        url = await clicks_in(self.app.features).click(link_token(link), clicker)
        if url is None:
            print("没有这个链接 (404)：请复制机器人发的链接")
            return
        by = self.world.contacts.get(clicker, clicker) if clicker else "收到链接的人"
        print(f"🔗 {by} 点开了链接 → {url}")

    async def command(self, line: str) -> bool:
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        ch, world = self.channel, self.world
        if name in ("/quit", "/exit"):
            return False
        if name == "/help":
            print(HELP)
        elif name in USAGE and not arg:
            print(USAGE[name])
        elif name == "/cast":
            print(self.cast())
        elif name == "/as":
            self.persona = arg
            world.add_contact(arg, arg)
        elif name == "/room":
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
                print(
                    f"新建了群「{arg}」，群主是“群主”。它不在 config.toml 的 [[rooms]] 里："
                    "群主的 # 命令只在列出的群里有效"
                )
            self.room = room.room_id
        elif name == "/dm":
            self.room = None
        elif name in ("/join", "/leave") and self.room is None:
            print(f"{name} 要在群里用：先 /room 群名")
        elif name == "/join" and self.room is not None:
            room = world.rooms[self.room]
            if self.persona in room.members:
                print(f"{self.persona} 已经在群「{room.topic}」里了")
            else:
                ch.push(ch.join(room.room_id, self.persona, self.persona))
        elif name == "/leave" and self.room is not None:
            room = world.rooms[self.room]
            if self.persona not in room.members:
                print(f"{self.persona} 不在群「{room.topic}」里")
            else:
                ch.push(ch.leave(room.room_id, self.persona))
                print(f"👋 {self.persona} 退出了群「{room.topic}」")
        elif name == "/friend":
            ch.push(ch.friend_request(self.persona, self.persona, arg))
        elif name == "/tick":
            try:
                delta = parse_duration(arg)
            except ValueError:
                print(USAGE["/tick"])
                return True
            await self.app.advance_to(self.app.clock.now() + delta)
            print(f"⏰ {self.app.clock.now():%Y-%m-%d %H:%M}")
        elif name == "/click":
            await self.click(arg)
        elif name == "/tags":
            tags = await self.app.tags.tags_of(self.persona)
            print("、".join(f"{t}({s})" for t, s in tags.items()) or "(没有标签)")
        elif name == "/reload":
            problems = await self.app.content.reload_and_tell()
            print("\n".join(problems) if problems else "content reloaded")
        elif name == "/reset":
            if not self.can_reset:
                print("这个数据库是用 --db 指定的，/reset 不清空它")
                return True
            self.reset_requested = True
            return False
        elif name[1:].casefold() in ADMIN_COMMANDS:
            # "/kick @x" is an admin command in WeChat (/ works like #), not the simulator's.
            return await self.say(line)
        else:
            print("不认识的命令，输入 /help 看看")
        return True


async def run_repl(
    app: App,
    *,
    rebuild: Callable[[], App] | None = None,
    lines: AsyncIterator[str] | None = None,
    changes: AsyncIterable[object] | None = None,
) -> int:
    """The simulator, as `mamabot sim` and `make run` without an account both start it:
    the clock moves (/tick), edits to content/ are picked up by themselves, and /reset
    starts again on an empty database with `rebuild` (None: /reset is refused). `lines`
    replaces the terminal and `changes` the file watcher (tests)."""
    typed = lines if lines is not None else _terminal_lines()
    while True:
        repl = await _session(app, typed, changes, can_reset=rebuild is not None)
        if repl is None or not repl.reset_requested or rebuild is None:
            return 0
        try:
            app = rebuild()
        except ConfigError as exc:
            for issue in exc.issues:
                print(f"error: {issue}", file=sys.stderr)
            return 1
        print("🧹 模拟器的数据库已清空，时间回到现在，重新开始", flush=True)


async def _terminal_lines() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def read_stdin() -> None:
        # A daemon thread: Ctrl-C ends the simulator without waiting for a last Enter.
        for typed in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, typed)
        loop.call_soon_threadsafe(queue.put_nowait, "")

    threading.Thread(target=read_stdin, name="sim-stdin", daemon=True).start()
    while line := await queue.get():
        yield line


async def _session(
    app: App,
    typed: AsyncIterator[str],
    changes: AsyncIterable[object] | None,
    *,
    can_reset: bool,
) -> Repl | None:
    """One run of the simulator on `app`, until /quit, /reset or the end of input.
    Returns the Repl (None: interrupted)."""
    await app.open()
    repl = Repl(app, can_reset=can_reset)
    await repl.setup()
    tty = sys.stdin.isatty() and changes is None
    logs_for_the_terminal(app.clock.tz, repl.prompt if tty else None)
    print(HELP, flush=True)
    print(repl.cast(), flush=True)

    async def ticker() -> None:
        # Time passes in the simulator too: batched welcomes and retries fire on their own.
        while True:
            await asyncio.sleep(1)
            async with repl.lock:
                await app.settle()

    # The running bot's watcher: an edit to content/ is in force at the next message.
    tasks = [
        asyncio.create_task(ticker(), name="sim-ticker"),
        asyncio.create_task(app.watch_content(changes), name="content-watch"),
    ]
    try:
        while True:
            if tty:
                print(repl.prompt(), end="", flush=True)
            line = await anext(typed, "")
            if not line:
                break
            async with repl.lock:
                if not await repl.handle_line(line):
                    break
                await app.settle()
    except asyncio.CancelledError:  # Ctrl-C
        print("\n再见 👋", flush=True)
        return None
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await app.stop(timeout=5)
    return repl
