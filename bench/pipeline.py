"""Throughput and latency of the live pipeline on a realistic group stream.

The stream (seeded, so every run sees the same one): distinct sentences of about 20
characters as mothers write them in 孕妈 / 宝妈 groups (feeding, sleep, due dates, weather,
shopping, doctor visits, family, emoji ...), no two alike, so no cache answers them; about
10% are questions a rule of content/keywords.toml answers; about 2% of events are members
joining (half of them then introduce themselves); rooms of 50 members, where a few mothers
talk much more than the rest. Arrivals are Poisson, 90 messages an hour in an average room.

Closed loop (default): the stream goes through the real app in arrival order, the fake
clock set to each event's arrival time as it is fed (so the guard's flood window sees a
busy afternoon, not every message at one instant); every `--batch` events the app settles
(dispatcher -> handlers -> outbox persisted and sent -> interactions written). In the same
run, jieba.lcut on the same texts. Prints, last:

    pipeline: <N> msgs/s (<events> events in <s> s)
    ratio: pipeline/jieba <r>

`--wechaty` also pushes the stream through the fake puppet service over loopback gRPC.

Open loop (`--rate N --seconds S`): Poisson arrivals at N events/s of wall time are pushed
into the sim channel of the live app (its own consumer, outbox loop and scheduler, a real
clock). Latency runs from an event's scheduled arrival (not from when the feeder got to it,
so a saturated loop is not hidden) to (a) the dispatcher finishing its chain and (b) its
answer being handed to the channel's say. Prints p50 / p99 / max of both.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import logging
import math
import random
import shutil
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import App, AppSettings
from bot.channels.sim import SimChannel, SimWorld
from bot.clock import FakeClock
from bot.events import Event

REPO = Path(__file__).resolve().parent.parent
START = datetime(2026, 11, 25, 14, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a weekday afternoon

# ---------------------------------------------------------------------------- sentences

CN_NUM = "一二三四五六七八九十"
OPENERS = [
    "",
    "",
    "",
    "",
    "姐妹们",
    "宝妈们",
    "哈哈",
    "唉",
    "话说",
    "刚刚",
    "今天",
    "昨晚",
    "早上",
    "下午",
    "说真的",
    "对了",
    "天呐",
    "真的是",
    "偷偷说",
    "报告一下",
    "嗯嗯",
    "同感",
    "我跟你们说",
    "笑死",
    "哎呀",
]
SUBJECTS = [
    "宝宝",
    "小宝",
    "大宝",
    "二宝",
    "我家娃",
    "闺女",
    "儿子",
    "小家伙",
    "我家小朋友",
    "我们家老二",
    "小祖宗",
    "崽崽",
]
FOODS = [
    "南瓜泥",
    "蒸蛋",
    "小馄饨",
    "香蕉",
    "苹果泥",
    "西兰花",
    "鳕鱼",
    "面条",
    "玉米",
    "土豆泥",
    "胡萝卜",
    "牛油果",
    "小米粥",
    "山药",
    "虾仁",
    "豆腐",
    "番茄炒蛋",
    "饺子",
    "紫薯",
    "蒸梨",
    "软饭",
    "鸡蛋羹",
    "蔬菜面",
    "牛肉粥",
]
CRAVINGS = [
    "酸辣粉",
    "火锅",
    "冰淇淋",
    "烤串",
    "螺蛳粉",
    "酸菜鱼",
    "炸鸡",
    "麻辣烫",
    "杨梅",
    "车厘子",
]
ITEMS = [
    "小棉袄",
    "学步鞋",
    "绘本",
    "积木",
    "小餐椅",
    "围兜",
    "保温杯",
    "爬行垫",
    "小帽子",
    "雨衣",
    "睡袋",
    "浴盆",
    "学饮杯",
    "小书包",
    "摇摇马",
    "小滑板车",
    "防晒衣",
    "手口湿巾",
]
PLACES = [
    "公园",
    "商场",
    "游乐场",
    "动物园",
    "植物园",
    "外婆家",
    "早教中心",
    "图书馆",
    "海洋馆",
    "湖边",
    "小区花园",
]
CITIES = [
    "杭州",
    "上海",
    "北京",
    "成都",
    "广州",
    "深圳",
    "武汉",
    "南京",
    "西安",
    "长沙",
    "重庆",
    "苏州",
    "郑州",
    "青岛",
    "厦门",
]
FAMILY = ["婆婆", "老公", "我妈", "宝爸", "姥姥", "奶奶", "爷爷", "小姨", "月嫂", "阿姨"]
# Clauses without any keyword of content/keywords.toml (checked when generated): about a
# child (a subject may go before them) or about anything else.
BABY = [
    "今天喝了{ml}毫升",
    "中午吃了小半碗{food}",
    "{food}吃得可香了",
    "一口{food}都不肯吃",
    "自己抓着{food}啃",
    "这两天胃口特别好",
    "吃饭要追着喂",
    "挑食挑得厉害",
    "午觉睡了{dur}",
    "昨晚{clock}点才睡着",
    "一觉睡到{clock}点",
    "今天起得特别早",
    "白天精神特别好",
    "睡前非要听故事",
    "非要抱着小熊才肯睡",
    "{months}个月体检身高{cm}厘米",
    "体重{kg}斤了",
    "会自己翻身了",
    "今天第一次喊妈妈",
    "扶着沙发能站了",
    "会挥手说拜拜了",
    "学会拍手了",
    "走路摇摇晃晃的",
    "{months}个月了越来越调皮",
    "{clock}点就醒了在床上蹦",
    "上幼儿园去了",
]
OTHER = [
    "{weeks}周了肚子越来越大",
    "预产期是{month}月{day}号",
    "腰酸得坐不住",
    "晚上腿老抽筋",
    "最近特别想吃{crave}",
    "爬两层楼就喘",
    "名字还没想好",
    "小衣服都洗好晾干了",
    "外面又下雨了",
    "今天太阳好大",
    "降温了记得加衣服",
    "{city}今天{temp}度",
    "小区里桂花开了",
    "楼下滑梯好多小朋友",
    "带娃去{place}玩了一圈",
    "{place}人太多了",
    "新买的推车到了",
    "双十一囤了好多东西",
    "超市的草莓好新鲜",
    "给娃买了{item}",
    "{item}颜色好好看",
    "{item}质量真不错",
    "直播间抢到了{item}",
    "今天去医院体检了",
    "医生说长得挺好",
    "排队排了一上午",
    "儿保医生说要多晒太阳",
    "复查结果都正常",
    "{family}帮忙带了一天",
    "{family}今天下班早",
    "{family}下周过来帮忙",
    "{family}又给买了新衣服",
    "累并快乐着",
    "好久没睡够了",
    "终于有时间刷手机了",
    "今天心情特别好",
    "好想出去逛街",
    "想念一个人吃火锅的日子",
]
CLAUSES = BABY + OTHER
TAILS = [
    "",
    "",
    "",
    "😂",
    "🤣",
    "😭",
    "👍",
    "🌸",
    "❤️",
    "[捂脸]",
    "[偷笑]",
    "[呲牙]",
    "[强]",
    "～",
    "哈哈哈",
    "呀",
    "啦",
    "！",
    "。",
    "😊",
    "🙏",
    "🥰",
]
Q_PRE = ["", "请问", "姐妹们", "有没有宝妈知道", "求助", "问一下", "各位宝妈", "急", "有经验的姐妹"]
Q_SUBJECT = ["宝宝", "我家宝宝", "{months}个月的宝宝", "娃", "闺女", "儿子", "二宝", "小家伙"]
Q_STATE = ["", "好几天了", "又反复了", "一直不好", "有点厉害", "最近老是这样", "从昨天开始"]
Q_ASK = [
    "怎么办呀",
    "要去医院吗",
    "大家怎么处理的",
    "有什么好办法吗",
    "正常吗",
    "求支招",
    "该注意什么",
    "有经验的说说",
]
Q_ABOUT = [
    "大家都怎么弄的呀",
    "有推荐的吗",
    "要注意什么呀",
    "有经验的姐妹说说",
    "是怎么回事",
    "大家怎么看",
]
# Rules about what a child has (a symptom, a habit): asked as "宝宝<keyword>了，怎么办".
CONDITIONS = {
    "spit-up",
    "sleep",
    "fever",
    "cold",
    "eczema",
    "jaundice",
    "diaper-rash",
    "constipation",
    "diarrhea",
    "colic",
    "teething",
    "night-feeding",
    "low-milk-supply",
}
NAME_A = "小大朵乐悦安欣思雨萌果甜糖豆米妞涵琪瑶诺宁"
NAME_B = ["妈妈", "妈", "麻麻", "妈咪", "的妈妈"]


def content_keywords(content_dir: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """(rule id, keyword) pairs a group question can hit, and every keyword of the file."""
    data = tomllib.loads((content_dir / "keywords.toml").read_text("utf-8"))
    askable, every = [], []
    for rule in data.get("rules", []):
        keys = [str(k) for k in rule.get("keywords", [])]
        every.extend(k.casefold() for k in keys)
        if (
            not rule.get("enabled", True)
            or rule.get("scope", "all") == "dm"
            or rule.get("mode", "contains") not in ("contains", "word")
            or rule.get("rooms")
            or rule.get("room_tags")
        ):
            continue
        askable.extend((str(rule.get("id", "")), k) for k in keys if not k.isascii())
    return askable, every


class Sentences:
    """Distinct group sentences; `ask()` ones carry a keyword, `chat()` ones none."""

    def __init__(self, rng: random.Random, content_dir: Path) -> None:
        self.rng = rng
        self.askable, self.keywords = content_keywords(content_dir)
        self.seen: set[str] = set()

    def _num(self, low: int, high: int) -> str:
        n = self.rng.randint(low, high)
        if n <= 10:
            return CN_NUM[n - 1]
        if n < 20:
            return "十" + (CN_NUM[n - 11] if n > 10 else "")
        tens, ones = divmod(n, 10)
        return CN_NUM[tens - 1] + "十" + (CN_NUM[ones - 1] if ones else "")

    def _fill(self, template: str) -> str:
        r = self.rng
        slots = {
            "ml": lambda: r.choice(["九十", "一百二", "一百五", "一百八", "两百", "六十", "一百"]),
            "food": lambda: r.choice(FOODS),
            "dur": lambda: r.choice(
                ["一个小时", "两个小时", "半小时", "四十分钟", "三个小时", "二十分钟"]
            ),
            "clock": lambda: self._num(1, 12),
            "weeks": lambda: self._num(8, 40),
            "month": lambda: self._num(1, 12),
            "day": lambda: self._num(1, 30),
            "crave": lambda: r.choice(CRAVINGS),
            "city": lambda: r.choice(CITIES),
            "temp": lambda: self._num(2, 36),
            "place": lambda: r.choice(PLACES),
            "item": lambda: r.choice(ITEMS),
            "months": lambda: self._num(2, 30),
            "cm": lambda: self._num(50, 99),
            "kg": lambda: self._num(8, 30),
            "family": lambda: r.choice(FAMILY),
        }
        for name, make in slots.items():
            key = "{" + name + "}"
            while key in template:
                template = template.replace(key, make(), 1)
        return template

    def _new(self, make: Callable[[], str], check: Callable[[str], bool]) -> str:
        while True:
            text = make()
            if 12 <= len(text) <= 30 and text not in self.seen and check(text):
                self.seen.add(text)
                return text

    def _no_keyword(self, text: str) -> bool:
        folded = text.casefold()
        return not any(k in folded for k in self.keywords)

    def chat(self) -> str:
        r = self.rng

        def make() -> str:
            first, second = r.sample(CLAUSES, 2)
            subject = r.choice(SUBJECTS) if first in BABY and r.random() < 0.6 else ""
            return (
                r.choice(OPENERS)
                + subject
                + self._fill(first)
                + r.choice(["，", "，", "，", " ", "。"])
                + self._fill(second)
                + r.choice(TAILS)
            )

        return self._new(make, self._no_keyword)

    def ask(self) -> str:
        r = self.rng
        rule, keyword = r.choice(self.askable)

        def make() -> str:
            pre = r.choice(Q_PRE)
            if rule in CONDITIONS:
                body = self._fill(r.choice(Q_SUBJECT)) + keyword + r.choice(Q_STATE)
                ask = r.choice(Q_ASK)
            else:
                body = r.choice(["", "想问下", "关于"]) + keyword
                ask = r.choice(Q_ABOUT)
            lead = self._fill(r.choice(CLAUSES)) + "，" if r.random() < 0.4 else ""
            return (
                pre
                + ("，" if pre else "")
                + lead
                + body
                + "，"
                + ask
                + r.choice(["？", "", "🙏", "[捂脸]"])
            )

        return self._new(make, lambda text: keyword in text)

    def intro(self, name: str) -> str:
        r = self.rng

        def make() -> str:
            stage = r.choice(
                [f"{self._num(6, 39)}周了", f"宝宝{self._num(1, 30)}个月了", "刚生完", "在备孕"]
            )
            return f"大家好，我是{r.choice(CITIES)}的{name}，{stage}{r.choice(TAILS)}"

        return self._new(make, self._no_keyword)


# ---------------------------------------------------------------------------- the stream


@dataclass(frozen=True, slots=True)
class Item:
    at: float  # seconds after the start of the stream
    kind: str  # "msg" | "join"
    room: str
    contact: str
    text: str = ""
    question: bool = False


@dataclass
class Stream:
    rooms: dict[str, tuple[str, str, list[str]]]  # room id -> topic, owner, members
    names: dict[str, str]  # contact id -> display name
    items: list[Item] = field(default_factory=list)

    @property
    def messages(self) -> list[Item]:
        return [i for i in self.items if i.kind == "msg"]


def make_stream(
    n_events: int | None,
    seconds: float | None,
    rate: float,
    n_rooms: int,
    members: int,
    seed: int,
    content_dir: Path,
) -> Stream:
    """Events up to `n_events` or `seconds` of arrivals, Poisson at `rate` per second."""
    rng = random.Random(seed)
    sentences = Sentences(rng, content_dir)
    names: dict[str, str] = {}

    def room_id(r: int) -> str:
        return f"room{r:05d}@chatroom"

    def name() -> str:
        return rng.choice(NAME_A) + rng.choice(NAME_A) + rng.choice(NAME_B)

    # Members are made when they first speak or join: a room of 50 where 12 talk in the
    # stream holds those 12 and its owner (40,000 rooms of 50 would be two million
    # contacts the bench never uses).
    topics, owners, present = [], [], []
    for r in range(n_rooms):
        topics.append({0: "孕妈交流群", 1: "VIP宝妈群"}.get(r, f"暖暖宝妈交流{r}群"))
        owners.append(f"wxid_r{r:04d}m00")
        names[owners[-1]] = name()
        present.append({owners[-1]: None})
    # Some rooms and some mothers are much busier than others.
    room_cum = list(itertools.accumulate(1 / math.sqrt(i + 1) for i in range(n_rooms)))
    member_cum = list(itertools.accumulate(1 / (i + 1) ** 0.8 for i in range(members)))
    newcomers: list[list[str]] = [[] for _ in range(n_rooms)]
    used: set[int] = set()

    def pick(cum: list[float]) -> int:
        return bisect.bisect_left(cum, rng.random() * cum[-1])

    def speaker(r: int) -> str:
        # A newcomer who joined during the stream talks about as much as a quiet member.
        total = member_cum[-1] + len(newcomers[r])
        x = rng.random() * total
        if x >= member_cum[-1]:
            return newcomers[r][int(x - member_cum[-1])]
        who = f"wxid_r{r:04d}m{bisect.bisect_left(member_cum, x):02d}"
        if who not in names:
            names[who] = name()
        present[r][who] = None
        return who

    items: list[Item] = []
    later: list[Item] = []  # introductions after a join
    t, joined = 0.0, 0
    while True:
        t += rng.expovariate(rate)
        if (seconds is not None and t > seconds) or (
            n_events is not None and len(items) + len(later) >= n_events
        ):
            break
        r = pick(room_cum)
        room = room_id(r)
        used.add(r)
        if rng.random() < 0.02:
            joined += 1
            who = f"wxid_new{joined:05d}"
            names[who] = name()
            items.append(Item(t, "join", room, who))
            newcomers[r].append(who)
            if rng.random() < 0.5:
                intro = sentences.intro(names[who])
                later.append(Item(t + rng.uniform(3, 60), "msg", room, who, intro))
            continue
        sender = speaker(r)
        if rng.random() < 0.10:
            items.append(Item(t, "msg", room, sender, sentences.ask(), question=True))
        else:
            items.append(Item(t, "msg", room, sender, sentences.chat()))
    items.extend(i for i in later if seconds is None or i.at <= seconds)
    items.sort(key=lambda i: i.at)
    # Rooms nobody spoke in are left out; joiners are not members before they join.
    rooms = {room_id(r): (topics[r], owners[r], list(present[r])) for r in sorted(used)}
    return Stream(rooms, names, items)


def world_for(stream: Stream) -> SimWorld:
    world = SimWorld()
    for contact, name in stream.names.items():
        world.add_contact(contact, name)
    for room_id, (topic, owner, members) in stream.rooms.items():
        world.add_room(room_id, topic, owner, members)
    return world


def sim_event(channel: SimChannel, item: Item) -> Event:
    if item.kind == "join":
        return channel.join(item.room, item.contact)
    return channel.message(item.contact, item.text, room_id=item.room)


def project_copy(tmp: Path) -> Path:
    shutil.copytree(REPO / "content", tmp / "content")
    shutil.copy(REPO / "config.toml", tmp / "config.toml")
    return tmp


def sim_channel(app: App) -> SimChannel:
    channel = next(iter(app.channels.values()))
    assert isinstance(channel, SimChannel)
    return channel


WARM_ROOM = "warmup@chatroom"


def add_warm_room(world: SimWorld) -> None:
    world.add_room(WARM_ROOM, "预热群", "warm-owner", ["warm-owner", "warm-a"])


# ---------------------------------------------------------------------------- closed loop


def jieba_rate(texts: list[str]) -> float:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    start = time.perf_counter()
    for text in texts:
        jieba.lcut(text)
    return len(texts) / (time.perf_counter() - start)


async def run_sim(stream: Stream, tmp: Path, batch: int) -> tuple[float, Counter[str]]:
    base = project_copy(tmp / "sim")
    clock = FakeClock(START)
    world = world_for(stream)
    add_warm_room(world)
    app = App.build(
        AppSettings(
            base_dir=base,
            database_url=f"sqlite://{base}/bench.sqlite3",
            redis_url="",
            clock=clock,
            seed=1,
        ),
        world=world,
    )
    actions: Counter[str] = Counter()
    app.action_observers.append(lambda record: actions.update([record["action"]]))
    await app.open()
    channel = sim_channel(app)
    # Warm up outside the measurement: jieba's dictionary, the keyword index, SQLite.
    app.feed(channel.message("warm-a", "宝宝湿疹怎么办", room_id=WARM_ROOM))
    await app.settle()
    actions.clear()
    start = time.perf_counter()
    for i, item in enumerate(stream.items, 1):
        clock.set(START + timedelta(seconds=item.at))
        app.feed(sim_event(channel, item))
        if i % batch == 0:
            await app.settle()
    await app.settle()
    await app.stop(timeout=5)  # the last interactions and outbox rows are written here
    return time.perf_counter() - start, actions


async def run_wechaty(stream: Stream, tmp: Path, batch: int) -> tuple[float, Counter[str]]:
    """The same stream through the fake puppet service over loopback gRPC: the channel
    fetches each payload and member name, the app answers, the answers go back over gRPC.
    The fake runs in this process too, so its own cost is part of the figure."""
    import os

    from bot.channels.wechaty import WechatyChannel, WechatyOptions
    from tests.fakes.puppet_service import FakePuppetService
    from tests.wechaty_harness import TOKEN_ENV, account_config

    base = project_copy(tmp / "wechaty")
    fake = await FakePuppetService().start()
    try:
        account_config(base, fake.endpoint)
        config = base / "config.toml"  # no hourly cap either: this measures throughput
        config.write_text(
            config.read_text("utf-8").replace("max_per_hour = 300", "max_per_hour = 10000000"),
            encoding="utf-8",
        )
        os.environ[TOKEN_ENV] = fake.token
        for contact, name in stream.names.items():
            fake.contact(contact, name)
        for room_id, (topic, owner, members) in stream.rooms.items():
            fake.room(room_id, topic, owner, list(members))
        clock = FakeClock(START)
        app = App.build(
            AppSettings(
                base_dir=base,
                database_url=f"sqlite://{base}/bench.sqlite3",
                redis_url="",
                clock=clock,
                seed=1,
                wechaty_options=WechatyOptions(fetch_concurrency=256),
            )
        )
        actions: Counter[str] = Counter()
        app.action_observers.append(lambda record: actions.update([record["action"]]))
        await app.open()
        channel = app.channels["brand"]
        assert isinstance(channel, WechatyChannel)
        await channel.start()
        await fake.wait_for_streams(1)
        events = aiter(channel.events())
        fake.message("warm-a", "宝宝湿疹怎么办", room=next(iter(stream.rooms)))
        await app.receive(await asyncio.wait_for(anext(events), 10))
        await app.settle()
        actions.clear()
        start = time.perf_counter()
        for i in range(0, len(stream.items), batch):
            chunk = stream.items[i : i + batch]
            for item in chunk:
                clock.set(START + timedelta(seconds=item.at))
                if item.kind == "join":
                    owner = stream.rooms[item.room][1]
                    fake.join(item.room, [item.contact], owner, timestamp=int(item.at * 1000) + 1)
                else:
                    fake.message(item.contact, item.text, room=item.room)
            for _ in chunk:
                await app.receive(await asyncio.wait_for(anext(events), 10))
            await app.settle()
        await app.stop(timeout=5)
        return len(stream.items) / (time.perf_counter() - start), actions
    finally:
        await fake.close()


# ---------------------------------------------------------------------------- open loop


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    values = sorted(values)
    p50 = values[math.ceil(0.50 * len(values)) - 1]
    p99 = values[math.ceil(0.99 * len(values)) - 1]
    return f"p50 {p50:.1f} ms p99 {p99:.1f} ms max {values[-1]:.1f} ms"


async def run_open_loop(stream: Stream, tmp: Path, seconds: float) -> dict[str, Any]:
    base = project_copy(tmp / "open")
    world = world_for(stream)
    add_warm_room(world)
    app = App.build(  # the system clock: this mode runs on wall time
        AppSettings(
            base_dir=base, database_url=f"sqlite://{base}/bench.sqlite3", redis_url="", seed=1
        ),
        world=world,
    )
    channel = sim_channel(app)
    handled: dict[str, float] = {}
    replied: dict[str, float] = {}
    process = app.dispatcher.process

    async def observed_process(event: Event) -> None:
        await process(event)
        handled.setdefault(event.event_id, time.perf_counter())

    say = channel.say

    async def observed_say(**kwargs: Any) -> str | None:
        result = await say(**kwargs)
        # Action keys start with the id of the event they answer ("<event id>:<handler>:...").
        replied.setdefault(str(kwargs["dedupe_key"]).split(":", 1)[0], time.perf_counter())
        return result

    app.dispatcher.process = observed_process  # type: ignore[method-assign]
    channel.say = observed_say  # type: ignore[method-assign]
    await app.open()
    await app.start_live()  # the app's own loops: channel consumer, outbox, scheduler

    async def until(done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.perf_counter() + timeout
        while not done():
            if time.perf_counter() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    warm = channel.push(channel.message("warm-a", "宝宝湿疹怎么办", room_id=WARM_ROOM))
    await until(lambda: warm.event_id in replied, 30)
    arrived: dict[str, float] = {}
    start = time.perf_counter()
    for item in stream.items:
        due = start + item.at
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        event = channel.push(sim_event(channel, item))
        arrived[event.event_id] = due  # the scheduled arrival: lateness counts as latency
    fed = time.perf_counter() - start
    drained = await until(lambda: all(e in handled for e in arrived), max(30.0, seconds * 3))
    # Answers are sent by the outbox loop: wait until it has been quiet for a second.
    last = (-1, time.perf_counter())
    while time.perf_counter() - last[1] < 1.0:
        await asyncio.sleep(0.05)
        if len(replied) != last[0]:
            last = (len(replied), time.perf_counter())
    busy = max((handled[e] for e in arrived if e in handled), default=start) - start
    await app.stop(timeout=5)
    return {
        "events": len(arrived),
        "fed_s": fed,
        "drained": drained,
        "busy_s": busy,
        "handled": [(handled[e] - t) * 1000 for e, t in arrived.items() if e in handled],
        "replied": [(replied[e] - t) * 1000 for e, t in arrived.items() if e in replied],
    }


# ---------------------------------------------------------------------------- main


def counts(actions: Counter[str]) -> str:
    return ", ".join(f"{n} {a}" for a, n in sorted(actions.items())) or "none"


def describe(stream: Stream, label: str) -> str:
    messages = stream.messages
    questions = sum(1 for m in messages if m.question)
    joins = len(stream.items) - len(messages)
    texts = {m.text for m in messages}
    mean = sum(len(m.text) for m in messages) / max(1, len(messages))
    senders = len({m.contact for m in messages})
    span = stream.items[-1].at if stream.items else 0.0
    return (
        f"stream ({label}): {len(stream.items)} events = {len(messages)} messages "
        f"({questions} questions, {len(texts)} distinct texts, mean {mean:.1f} chars) + "
        f"{joins} joins; {len(stream.rooms)} rooms, {senders} senders; "
        f"arrivals over {span / 60:.1f} min"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000, help="closed loop: stream length")
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--members", type=int, default=50, help="members per room")
    parser.add_argument(
        "--room-rate", type=float, default=90.0, help="messages an hour in an average room"
    )
    parser.add_argument("--batch", type=int, default=100, help="closed loop: events per settle")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--wechaty", action="store_true", help="also over gRPC (fake puppet)")
    parser.add_argument("--rate", type=float, help="open loop: Poisson arrivals per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="open loop: arrival time")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    content = REPO / "content"
    tmp = Path(tempfile.mkdtemp(prefix="mamabot-bench-"))
    try:
        if args.rate:
            # Enough rooms that each stays at --room-rate: a real group of 50 does not post
            # 100 messages a second, and the guard would rightly call that a flood.
            rooms = max(args.rooms, math.ceil(args.rate * 3600 / args.room_rate))
            stream = make_stream(
                None, args.seconds, args.rate, rooms, args.members, args.seed, content
            )
            print(describe(stream, f"open loop, {args.rate:g}/s offered"))
            out = await run_open_loop(stream, tmp, args.seconds)
            achieved = len(out["handled"]) / max(out["busy_s"], 1e-9)
            print(
                f"open loop: {out['events']} events offered at {args.rate:g}/s over "
                f"{out['fed_s']:.1f} s; {len(out['handled'])} handled "
                f"({achieved:.0f}/s){'' if out['drained'] else ', NOT DRAINED (overloaded)'}; "
                f"{len(out['replied'])} answered"
            )
            print(f"latency to handled: {percentiles(out['handled'])}")
            print(f"latency to reply at channel: {percentiles(out['replied'])}")
            return
        rate = args.rooms * args.room_rate / 3600
        stream = make_stream(args.events, None, rate, args.rooms, args.members, args.seed, content)
        print(describe(stream, "closed loop"))
        texts = [m.text for m in stream.messages]
        jieba_per_s = jieba_rate(texts)
        elapsed, actions = await run_sim(stream, tmp, args.batch)
        print(f"actions: {counts(actions)}")
        if args.wechaty:
            over_grpc, actions = await run_wechaty(stream, tmp, args.batch)
            print(f"wechaty: {over_grpc:.0f} msgs/s; actions: {counts(actions)}")
        pipeline_per_s = len(stream.items) / elapsed
        print(f"jieba: {jieba_per_s:.0f} msgs/s (jieba.lcut on the same texts)")
        print(
            f"pipeline: {pipeline_per_s:.0f} msgs/s ({len(stream.items)} events in {elapsed:.2f} s)"
        )
        print(f"ratio: pipeline/jieba {pipeline_per_s / jieba_per_s:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
