"""Fuzz: random and hostile input never costs more than one message, and no message is slow.

Hypothesis feeds hostile events through the real dispatcher (the simulator harness, which
fails a test on any handler error) and random lines through `mamabot replay`,
`parse-stage` and `spam-check` (the real CLI entry, `bot.cli.main`). A test fails on any
traceback, and on any event or line that takes more than BUDGET of the process's CPU time:
a catastrophe bound (a backtracking pattern or a quadratic parse takes seconds), not a
speed figure. Speed is measured in bench/; the slowest item here is printed, not judged.

Deterministic: derandomize=True (a seed fixed by the test's name), no example database,
a bounded number of examples, no hypothesis deadline (each message is timed here, in CPU
time, so a busy machine does not make it flaky). The counts tried are printed at the end
of the module (pytest prints them in its summary).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.clock import FakeClock
from bot.events import Event, MemberJoined, MemberLeft, MessageType
from bot.handler import Context, Flow
from bot.text import tokenizer
from handlers.admin import COMMANDS
from storage.db import Database
from storage.kv_redis import RedisKV
from tests import services
from tests.harness import START, BotUnderTest, copy_project

# Seconds of CPU per event or per line. Process CPU time counts every thread (aiosqlite
# works in one), so a loaded two-core machine doubled a 40 ms event: the bound stays far
# above any honest figure and far below a blow-up.
BUDGET = 0.500

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass
class Tally:
    """What a fuzz test tried, for the summary line."""

    examples: int = 0
    items: int = 0
    refused: int = 0
    slowest: float = 0.0
    slowest_what: str = ""
    kinds: Counter[str] = field(default_factory=Counter)

    def timed(self, seconds: float, what: str) -> None:
        self.items += 1
        if seconds > self.slowest:
            self.slowest, self.slowest_what = seconds, what[:80]
        assert seconds <= BUDGET, f"{what} took {seconds * 1000:.1f} ms of CPU"


TALLIES: dict[str, Tally] = {}


@pytest.fixture(scope="module", autouse=True)
def _summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    gc.unfreeze()
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line("")
        for name, tally in TALLIES.items():
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(tally.kinds.items()))
            timing = (
                f"{tally.items} timed, slowest {tally.slowest * 1000:.1f} ms CPU "
                f"({tally.slowest_what!r})"
                if tally.items
                else "not timed"
            )
            reporter.write_line(
                f"fuzz {name}: {tally.examples} examples, {tally.refused} refused, {timing}; "
                f"{kinds}"
            )


def quiet_gc() -> None:
    """Collect, then exempt what survived from later collections: a full collection over
    the jieba dictionary and the test's own objects is a pause of the process, not a cost
    of the message it happens to fall in (the module unfreezes at its end)."""
    gc.collect()
    gc.freeze()


def tally(name: str) -> Tally:
    return TALLIES.setdefault(name, Tally())


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the content: admins' lessons and reloads must not touch the repo.
    `s` is a super admin; R1 (孕妈交流群) is a managed group owned by `o`."""
    base = copy_project(tmp_path_factory.mktemp("fuzz"))
    config = base / "config.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("super_admins = []", 'super_admins = ["s"]', 1), "utf-8")
    tokenizer()  # jieba loads once per process (half a second), not in the first message
    return base


# ------------------------------------------------------------------ hostile text

UNITS = [
    "a.", "。", "！", "?", "@", "＠", "#", "http://", "www.", ".top/", "\u200f", "\u202e",
    "\u200b", "\ufeff", "😊", "👨‍👩‍👧", "\x00", "\ud800", "\udc00", "V❤信", "加", "薇", "1",
    "１３８", "８", "宝宝", "湿疹", "\n", "\t", " ", "̀", "﷽", "𠀀",
]  # fmt: skip
SAMPLES = [
    "宝宝湿疹怎么办", "纸尿裤怎么选尺码", "加我V❤信 mama88 日赚300", "好物分享 http://xyz.top/p",
    "孕24周", "宝宝8个月", "预产期2027年3月15日", "退订", "删除我的数据", "跳过", "你好",
    "我的电话13812345678，宝宝湿疹怎么办", "(\\w+\\s?)+吗", "[图片]", "{name}", "{{", "%s%d",
    "<script>alert(1)</script>", "'; DROP TABLE contact; --", "\\x00", "null", "",
]  # fmt: skip
ARGS = [
    "@@@", "@", "@ ", "＠", "@" * 300, "@小美", "@不存在的人", "@a 发广告", "a", "b", "o", "s",
    "ghost", "孕妈交流群", "随便聊", "VIP", "高意向", "1", "-1", "99999999999999999999", "\x00",
    "\ud800", "R1", "#踢", "@a @b @c", "@a\u2005",
]  # fmt: skip

ODD_CHARS = st.characters(
    categories=("Cc", "Cf", "Cs", "Co", "Mn", "Zs", "Zl", "So", "Po", "Lo", "Nd")
)
runs = st.builds(lambda unit, n: unit * n, st.sampled_from(UNITS), st.integers(1, 20_000))
mixed = st.lists(st.one_of(st.sampled_from(UNITS + SAMPLES), runs), min_size=2, max_size=6).map(
    "".join
)
hostile_text = st.one_of(
    st.sampled_from(SAMPLES),
    st.text(max_size=300),
    st.text(ODD_CHARS, max_size=300),
    runs,
    mixed,
)
admin_args = st.one_of(
    st.sampled_from(ARGS), hostile_text, st.lists(st.sampled_from(ARGS)).map(" ".join)
)
admin_command = st.builds(
    lambda prefix, name, sep, arg: f"{prefix}{name}{sep}{arg}",
    st.sampled_from(["#", "/", "＃"]),
    st.sampled_from(sorted(COMMANDS)),
    st.sampled_from([" ", "", "  ", "\u3000", "\n"]),
    admin_args,
)
message_text = st.one_of(hostile_text, admin_command)

# ------------------------------------------------------------------ hostile events

KNOWN_IDS = [
    "o",
    "s",
    "a",
    "b",
    "c",
    "new1",
    "R1",
    "bot-sim",
    "@",
    " ",
    "\u202e",
    "o\ufffd",
    "\U0010fffd",
]  # fmt: skip
# Ids and names as a platform (or a broken one) might hand them over: empty, longer than any
# column, with NULs and lone surrogates; names past their column. Each costs one event.
display_name = hostile_text
contact_id = st.one_of(
    st.sampled_from(KNOWN_IDS),
    st.text(min_size=0, max_size=200),
    st.text(
        st.characters(categories=("Cc", "Cf", "Co", "Cs", "Mn", "Zs", "So", "Lo")),
        min_size=1,
        max_size=200,
    ),
)
ROOMS = ["R1", "R2", "R3", "GHOST", None]  # managed, unmanaged, unregistered, unknown, a DM
room_id = st.sampled_from(ROOMS)


@dataclass(frozen=True)
class Say:
    sender: str
    text: str
    room: str | None
    mentions: list[str]
    type: MessageType
    image: bytes | None


@dataclass(frozen=True)
class Join:
    room: str
    contact: str
    name: str


@dataclass(frozen=True)
class Leave:
    room: str
    contact: str


@dataclass(frozen=True)
class Friend:
    contact: str
    name: str
    hello: str


@dataclass(frozen=True)
class Tick:
    seconds: int


senders = st.one_of(st.sampled_from(["o", "s", "a", "b"]), contact_id)
ops = st.one_of(
    st.builds(
        Say,
        senders,
        message_text,
        room_id,
        st.lists(
            st.one_of(st.sampled_from(["o", "s", "a", "ghost", "bot-sim"]), contact_id), max_size=4
        ),
        st.sampled_from(list(MessageType)),
        st.one_of(st.none(), st.binary(max_size=64)),
    ),
    st.builds(Join, st.sampled_from(["R1", "R2", "R3", "GHOST"]), contact_id, display_name),
    st.builds(Leave, st.sampled_from(["R1", "R2", "R3", "GHOST"]), contact_id),
    st.builds(Friend, contact_id, display_name, hostile_text),
    st.builds(Tick, st.integers(0, 3 * 86_400)),
)


def _say(sender: str, text: str, room: str | None = "R1", mentions: list[str] | None = None) -> Say:
    return Say(sender, text, room, mentions or [], MessageType.TEXT, None)


# The hostile inputs, tried on every run before the random ones.
WORST = [
    _say("b", "宝宝\x00湿疹"),
    _say("b", "\ud800\udfff\udc00 加V"),
    _say("b", "x" * 1_000_000),
    _say("b", "\u202e\u200f" * 5000 + "宝宝湿疹怎么办"),
    _say("b", "😊👨‍👩‍👧" * 10_000),
    _say("b", "a." * 20_000),
    _say("b", "！？。…" * 20_000),
    _say("o", "#踢 @@@"),
    _say("o", "#警告 @"),
    _say("o", "#拉黑 @", mentions=["ghost"]),
    _say("s", "#拉黑 @ghost", room=None),
    _say("o", "#踢", mentions=["ghost", "bot-sim", "o", "s"]),
    _say("o", "#标签 @@ VIP"),
    _say("o", "#统计 " + "不存在" * 1000, room=None),
    _say("o", "#公告 " + "\x00" * 100),
    _say("s", "#重载"),
    _say("ghost", "宝宝湿疹怎么办", room="GHOST"),
    _say("b", "宝宝湿疹怎么办", room="R3"),
    Join("GHOST", "z", "小美"),
    Leave("GHOST", "z"),
    Join("R3", "z", "\u202e小美"),
    Friend("m", "小美", "你好"),
    _say("m", "宝宝" * 20_000, room=None),
    _say("m", "农历八月十五" * 20_000, room=None),
    Tick(86_400),
]


async def empty_database(url: str) -> None:
    db = Database(url)
    await db.open()
    await db.truncate_all()
    await db.close()


async def empty_kv(url: str, prefix: str) -> None:
    kv = RedisKV(url, FakeClock(START), prefix=prefix)
    await kv.flush_prefix()
    await kv.close()


class Bot:
    """One bot for the whole test, kept open across examples in one event loop, so state
    (warnings, bans, dialogs, batched welcomes) builds up as it would in a real group."""

    def __init__(self, base: Path, stack: str) -> None:
        self.runner = asyncio.Runner()
        self.kv_prefix = f"mamabot-fuzz:{uuid.uuid4().hex}:"
        if stack == "sqlite":
            self.redis_url = ""
            self.bot = BotUnderTest(base)
        else:  # production's stack, where NUL and sizes are refused for real
            pg, self.redis_url = services.postgres_url(), services.redis_url()
            self.runner.run(empty_database(pg))
            self.bot = BotUnderTest(
                base, database_url=pg, redis_url=self.redis_url, kv_prefix=self.kv_prefix
            )
        # A handler error fails the harness; a failed work item or send is only logged,
        # with its traceback: any logged traceback fails the fuzz too.
        self.tracebacks = Tracebacks()
        logging.getLogger().addHandler(self.tracebacks)
        self.runner.run(self.bot.__aenter__())
        self.bot.room("R1", "孕妈交流群", owner="o", members=["o", "a", "b"])
        self.bot.room("R2", "随便聊", owner="a", members=["a", "b"])
        self.bot.room("R3", "", owner="b", members=["b"])
        self.runner.run(self.bot.register_room("R1"))
        self.runner.run(self.bot.register_room("R2"))
        for text, room in (("你好", "R1"), ("宝宝湿疹怎么办", None), ("#统计", "R1")):
            self.runner.run(self.bot.says("o", text, room=room))  # warm the caches
        quiet_gc()

    def close(self) -> None:
        try:
            self.runner.run(self.bot.__aexit__(None, None, None))
        finally:
            if self.redis_url:
                self.runner.run(empty_kv(self.redis_url, self.kv_prefix))
            self.runner.close()
            logging.getLogger().removeHandler(self.tracebacks)

    async def apply(self, op: Any) -> None:
        bot = self.bot
        if isinstance(op, Say):
            await bot.says(
                op.sender, op.text, room=op.room, mentions=op.mentions, type=op.type, image=op.image
            )
        elif isinstance(op, Join):
            if op.room in bot.world.rooms:
                await bot.join(op.room, op.contact, op.name)
            else:  # a group the world never told us about
                await self.push(MemberJoined(**self.head(), room=op.room, member_id=op.contact, member_name=op.name, inviter_id=None))  # fmt: skip
        elif isinstance(op, Leave):
            if op.room in bot.world.rooms:
                await bot.leave(op.room, op.contact)
            else:
                await self.push(MemberLeft(**self.head(), room=op.room, member_id=op.contact, remover_id=None))  # fmt: skip
        elif isinstance(op, Friend):
            await bot.friend_request(op.contact, op.name, op.hello)

    def head(self) -> dict[str, Any]:
        channel = self.bot.channel
        return {
            "event_id": channel.next_event_id(),
            "account_id": channel.account_id,
            "at": self.bot.clock.now(),
        }

    async def push(self, event: Event) -> None:
        self.bot.channel.push(event)
        await self.bot.app.settle()

    def run(self, op: Any) -> float:
        """Apply one op; the CPU seconds it took (events only: a tick runs due work)."""
        if isinstance(op, Tick):
            self.runner.run(self.bot.tick(f"{op.seconds}s"))
            return 0.0
        before = time.process_time()
        self.runner.run(self.apply(op))
        return time.process_time() - before

    def errors(self) -> list[str]:
        handler_errors = self.bot.app.dispatcher.errors
        return [
            *self.tracebacks.seen,
            *([f"{handler_errors} handler errors"] if handler_errors else []),
        ]


class Tracebacks(logging.Handler):
    """Every log record that carries an exception."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.seen.append(f"{record.name}: {record.getMessage()[:300]}")


@pytest.mark.parametrize(("stack", "examples"), [("sqlite", 150), ("postgres+redis", 60)])
def test_hostile_events_through_the_dispatcher(project: Path, stack: str, examples: int) -> None:
    bot = Bot(project, stack)
    counts = tally(f"dispatcher on {stack}")
    try:

        @settings(FUZZ, max_examples=examples)
        @given(st.lists(ops, min_size=1, max_size=8))
        @example(WORST)
        def events(script: list[Any]) -> None:
            counts.examples += 1
            for op in script:
                seconds = bot.run(op)
                counts.kinds[type(op).__name__] += 1
                # Fail at the op that raised in a handler, not only when the bot closes.
                assert not bot.errors(), f"{bot.errors()} on {op!r}"
                if not isinstance(op, Tick):
                    counts.timed(seconds, repr(op)[:300])

        events()
    finally:
        bot.close()  # raises when any handler raised (BotUnderTest)
    assert counts.items > 2 * examples


class Raises:
    name = "raises"

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        raise RuntimeError("a broken handler")


def test_the_harness_fails_a_test_on_any_handler_error() -> None:
    # What the dispatcher fuzz relies on: the dispatcher logs and skips a handler that
    # raised (the bot goes on), and the harness turns that into a failure.
    async def scenario() -> None:
        async with BotUnderTest() as bot:
            bot.app.dispatcher.handlers[:0] = [Raises()]
            await bot.says("b", "宝宝湿疹怎么办")
            assert bot.said_to("b")  # the next handlers still answered

    with pytest.raises(AssertionError, match="1 handler error"):
        asyncio.run(scenario())


async def _empty_friend_request(bot: BotUnderTest) -> None:
    # welcome and dialog raise ValueError("say needs a room or a contact") (bot/outbox.py)
    await bot.friend_request("", "", "")


async def _long_contact_id(bot: BotUnderTest) -> None:
    # keywords, admin, dialog, roster and welcome raise tortoise's ValidationError
    # (contact_id is 128 characters at most in storage/models.py)
    await bot.says("x" * 200, "宝宝湿疹怎么办", room="R1")
    await bot.friend_request("x" * 200, "小美", "你好")


async def _long_display_name(bot: BotUnderTest) -> None:
    # welcome raises tortoise's ValidationError: PendingWelcome.name is 255 at most
    await bot.join("R1", "b", "名" * 300)


async def _surrogate_in_a_member_list(bot: BotUnderTest) -> None:
    # the daily roster_sync work of the room fails (UnicodeEncodeError on SQLite, DataError
    # on PostgreSQL) for every member, every day: the id comes from the channel's member
    # list, which nothing makes storable (a sim world only: gRPC strings are valid UTF-8)
    bot.world.rooms["R1"].members.append("x\ud800")
    await bot.register_room("R1")
    await bot.tick("1d")


@pytest.mark.parametrize(
    "reproducer",
    [
        pytest.param(_empty_friend_request, id="empty-id"),
        pytest.param(_long_contact_id, id="id-over-128"),
        pytest.param(_long_display_name, id="name-over-255"),
        pytest.param(_surrogate_in_a_member_list, id="surrogate-member-id"),
    ],
)
async def test_found_by_the_fuzz_an_odd_id_or_name_costs_nothing(reproducer: Any) -> None:
    # Found by the fuzz: each used to raise in a handler or a daily job.
    tracebacks = Tracebacks()
    logging.getLogger().addHandler(tracebacks)
    try:
        async with BotUnderTest() as bot:
            bot.room("R1", "孕妈交流群", owner="o", members=["o"])
            await reproducer(bot)
    finally:
        logging.getLogger().removeHandler(tracebacks)
    assert not tracebacks.seen


async def test_found_by_the_fuzz_a_nul_in_a_member_id_costs_nothing_on_postgres() -> None:
    # The daily roster_sync of the room fails on PostgreSQL (CharacterNotInRepertoireError,
    # 0x00) in bot/rooms.py refresh_roster, every day, for every member of the room.
    url = services.postgres_url()
    await empty_database(url)
    tracebacks = Tracebacks()
    logging.getLogger().addHandler(tracebacks)
    try:
        async with BotUnderTest(database_url=url) as bot:
            bot.room("R1", "孕妈交流群", owner="o", members=["o"])
            await bot.register_room("R1")
            await bot.join("R1", "x\x00", "小美")
            await bot.tick("1d")
    finally:
        logging.getLogger().removeHandler(tracebacks)
    assert not tracebacks.seen


# ------------------------------------------------------------------ the CLI


class TimedLines:
    """stdin for the CLI: hands out lines and notes the CPU time each was taken."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.taken: list[float] = []

    def __iter__(self) -> Iterator[str]:
        for line in self.lines:
            self.taken.append(time.process_time())
            yield line + "\n"


class TimedOut(io.StringIO):
    """stdout for the CLI: notes the CPU time each line was finished."""

    def __init__(self) -> None:
        super().__init__()
        self.done: list[float] = []

    def write(self, text: str) -> int:
        written = super().write(text)
        self.done.extend(time.process_time() for _ in range(text.count("\n")))
        return written


def run_cli(argv: list[str], lines: list[str] | None = None) -> tuple[int, str, str, list[float]]:
    """main(argv) with stdin lines; exit code, stdout, stderr and each line's CPU seconds."""
    stdin, out, err = TimedLines(lines or []), TimedOut(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr("sys.stdin", stdin)
        code = main(argv)
    per_line = [done - taken for taken, done in zip(stdin.taken, out.done, strict=False)]
    return code, out.getvalue(), err.getvalue(), per_line


# Texts as arguments now and then; lines on stdin (timed one by one) otherwise.
cli_args = st.one_of(
    st.just([]), st.just([]), st.just([]), st.lists(message_text, min_size=1, max_size=2)
)
stdin_line = message_text.map(lambda s: s.replace("\n", " "))
dates = st.one_of(
    st.dates(date(1900, 1, 1), date(2099, 12, 31)).map(str),
    st.dates(date(2020, 1, 1), date(2030, 12, 31)).map(str),
    st.dates().map(str),
    st.sampled_from(["9999-12-31", "0001-01-01", "1900-01-01", "2099-12-31", "2026-02-29", "x"]),
)


def test_random_lines_through_parse_stage(project: Path) -> None:
    counts = tally("parse-stage")
    quiet_gc()

    @settings(FUZZ, max_examples=200)
    @given(
        today=dates,
        expect=st.sampled_from([[], ["--expect", "due"], ["--expect", "birth"]]),
        lines=st.lists(stdin_line, min_size=1, max_size=10),
        args=cli_args,
    )
    @example(
        today="2026-11-25", expect=[], lines=["宝宝" * 20_000, "农历八月十五" * 20_000], args=[]
    )
    @example(today="9999-12-31", expect=[], lines=["孕24周"], args=[])
    @example(
        today="2099-12-31",
        expect=["--expect", "due"],
        lines=["农历八月十五", "预产期2月29日"],
        args=[],
    )
    @example(today="1900-01-01", expect=["--expect", "birth"], lines=["老大5岁老二5个月"], args=[])
    def lines_in(today: str, expect: list[str], lines: list[str], args: list[str]) -> None:
        counts.examples += 1
        argv = ["parse-stage", "--today", today, "--dir", str(project), *expect]
        code, out, err, per_line = run_cli([*argv, "--", *args] if args else argv, lines)
        assert "Traceback" not in err
        if code == 2:  # a --today the parser cannot use: one line that says so
            counts.refused += 1
            assert out == "" and err.startswith("mamabot: --today must be") and err.count("\n") == 1
            return
        assert code == 0 and err == ""
        printed = out.splitlines()
        assert len(printed) == len(args or lines)
        for text in printed:
            # The contract's keys, in order.
            assert list(json.loads(text)) == [
                "stage", "due_date", "birth_date", "gestational_days", "baby_age_days", "children",
                "confidence",
            ]  # fmt: skip
        counts.kinds["lines"] += len(printed)
        if not args:
            for line, seconds in zip(lines, per_line, strict=True):
                counts.timed(seconds, f"parse-stage {line[:200]!r}")

    lines_in()
    assert counts.items > 150


def test_random_lines_through_spam_check(project: Path) -> None:
    counts = tally("spam-check")
    quiet_gc()

    @settings(FUZZ, max_examples=60)
    @given(lines=st.lists(stdin_line, min_size=1, max_size=25), args=cli_args)
    def lines_in(lines: list[str], args: list[str]) -> None:
        counts.examples += 1
        argv = ["spam-check", "--dir", str(project)]
        code, out, err, per_line = run_cli([*argv, "--", *args] if args else argv, lines)
        assert code == 0 and err == ""
        printed = [json.loads(text) for text in out.splitlines()]
        assert len(printed) == len(args or lines)
        assert all(p["verdict"] in ("pass", "warn", "kick") for p in printed)
        counts.kinds.update(p["verdict"] for p in printed)
        if not args:
            for line, seconds in zip(lines, per_line, strict=True):
                counts.timed(seconds, f"spam-check {line[:200]!r}")

    lines_in()
    assert counts.items > 150


# ------------------------------------------------------------------ replay

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
BIG = 10**5000
AT = [
    "2026-11-25T09:00:00+08:00", "2026-11-25T09:00:31+08:00", "2026-11-26T09:30:00+08:00",
    "2026-12-02T10:00:00+08:00", "9999-12-31T23:59:59+08:00", "0001-01-01T00:00:00+14:00",
    "2099-12-31T23:59:59-23:59", "2000-01-01T00:00:00+14:00", "2026-11-25T09:00:00",
    "tomorrow", "2026-13-01T00:00:00+08:00", "", "2036-12-03T09:00:00+08:00",
]  # fmt: skip
field_value = st.one_of(
    st.sampled_from(["R1", "R2", "a", "b", "o", "小美", "", " ", "x" * 129, "\x00", "\ud800"]),
    st.sampled_from(["text", "image", "emoticon", "unknown", "mini_program"]),
    hostile_text,
    ANY_JSON,
    st.just(BIG),
    st.lists(st.sampled_from(["a", "b", "", "x" * 200]), max_size=3),
)
KEYS = [
    "room", "from", "text", "contact", "name", "inviter", "remover", "hello", "id", "topic",
    "owner", "members", "mentions", "type",
]  # fmt: skip
replay_object = st.builds(
    lambda kind, fields, at: {"kind": kind, **fields, **({"at": at} if at is not None else {})},
    st.sampled_from(["room", "join", "leave", "message", "friend_request", "tick", "mesage"]),
    st.dictionaries(st.sampled_from(KEYS), field_value, max_size=6),
    st.one_of(st.none(), st.sampled_from(AT), ANY_JSON),
)


def as_line(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=True)
    except ValueError:  # an integer too long to write: the line carries one anyway
        return '{"kind":"message","from":"b","text":"x","n":' + "9" * 5000 + "}"


replay_line = st.one_of(
    replay_object.map(as_line),
    ANY_JSON.map(as_line),
    st.text(max_size=80).map(lambda s: s.replace("\n", " ")),
    st.integers(1, 100_000).map(lambda n: "[" * n + "]" * n),
    st.sampled_from(["", "# a comment", "{", "NaN", '{"kind":"tick"}']),
)
VALID = [
    '{"kind":"room","id":"R1","topic":"孕妈交流群","owner":"o","members":["o","a"],"at":"2026-11-25T09:00:00+08:00"}',
    '{"kind":"join","room":"R1","contact":"b","name":"小美"}',
    '{"kind":"message","room":"R1","from":"b","text":"宝宝湿疹怎么办"}',
    '{"kind":"message","room":"R1","from":"o","text":"#警告 @b","mentions":["b"]}',
    '{"kind":"friend_request","from":"c","hello":"我是从小红书来的"}',
]  # fmt: skip
# A good line with one field changed: often still a script that runs, with odd text in it.
text_value = st.one_of(hostile_text, st.sampled_from(["", " ", "\x00", "\ud800"]))
mutated_line = st.builds(
    lambda line, key, value: as_line({**json.loads(line), key: value}),
    st.sampled_from(VALID),
    st.sampled_from(["text", "name", "topic", "hello", "room", "from", "mentions", "at", "type"]),
    st.one_of(text_value, text_value, field_value, st.sampled_from(AT)),
)


random_script = st.lists(
    st.one_of(replay_line, mutated_line, st.sampled_from(VALID)), min_size=1, max_size=6
)
odd_script = st.builds(  # good lines around one changed line
    lambda before, odd, after: [*before, odd, *after],
    st.lists(st.sampled_from(VALID), max_size=4),
    mutated_line,
    st.lists(st.sampled_from(VALID), max_size=2),
)


def test_random_lines_through_replay(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    counts = tally("replay")
    quiet_gc()
    script = tmp_path_factory.mktemp("replay") / "fuzz.jsonl"

    @settings(FUZZ, max_examples=300)
    @given(st.one_of(random_script, odd_script))
    def lines_in(lines: list[str]) -> None:
        counts.examples += 1
        counts.kinds["lines"] += len(lines)
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
        code, out, err, _ = run_cli(
            ["replay", str(script), "--config", str(project / "config.toml")]
        )
        assert "Traceback" not in err, err[-3000:]
        if code == 1:
            counts.refused += 1
            assert out == "" and err.startswith(f"replay: {script}: line ") and err.count("\n") == 1
            return
        assert code == 0 and err == ""
        for text in out.splitlines():
            action = json.loads(text)
            assert {"action", "at"} <= set(action)
            counts.kinds[action["action"]] += 1

    lines_in()
    assert counts.refused > 50 and counts.examples - counts.refused > 50
