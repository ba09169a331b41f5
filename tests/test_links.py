"""Tracked links: a phone opens `<base>/l/<token>` over real loopback HTTP; the click is
counted, and only the mother it was sent to by DM is tagged and starts automation."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.clock import FakeClock
from bot.config import LinkSpec
from bot.links import LinkMaker
from bot.triggers import Trigger
from handlers.links import clicks_in
from storage import links as link_store
from storage import marketing
from storage.models import Interaction, TrackedLink
from tests import services
from tests.harness import START, BotUnderTest

FEEDING = LinkSpec(id="feeding", url="https://example.com/feeding?a=1", tags=["关注:新生儿知识"])
SOURCE = "seq:mid-pregnancy:day3"
_TOKEN_IN = re.compile(r"/l/([A-Za-z0-9_-]+)")


async def send_link(
    bot: BotUnderTest,
    *,
    to: str | None = "b",
    room: str | None = None,
    source: str = SOURCE,
    key: str = "t1",
) -> str:
    """A tracked link sent as the automation will send it: rendered, then said. Returns
    the token the say carried."""
    app = bot.app
    assert app.links is not None
    text = await app.links.render(
        "宝宝喂养知识看这里 {link:feeding}",
        [FEEDING],
        source,
        contact_id=to,
        room_id=room,
        account_id=bot.channel.account_id,
    )
    await app.outbox.say(
        account_id=bot.channel.account_id,
        room_id=room,
        contact_id=None if room else to,
        text=text,
        dedupe_key=key,
    )
    await app.settle()
    said = bot.said_in(room) if room else bot.said_to(to or "")
    match = _TOKEN_IN.search(said[-1]["text"])
    assert match, said
    assert said[-1]["text"].startswith(f"宝宝喂养知识看这里 {app.config.web.base}/l/")
    return match.group(1)


class Web:
    """The bot's HTTP server on a free loopback port, and a phone that does not follow
    redirects (we check where it would go)."""

    def __init__(self, bot: BotUnderTest, port: int, http: aiohttp.ClientSession) -> None:
        self.bot, self.port, self.http = bot, port, http

    async def open(self, path: str) -> tuple[int, dict[str, str], str]:
        async with self.http.get(
            f"http://127.0.0.1:{self.port}{path}", allow_redirects=False
        ) as resp:
            return resp.status, dict(resp.headers), await resp.text()


@pytest.fixture
async def bot() -> AsyncIterator[BotUnderTest]:
    async with BotUnderTest() as running:
        yield running


@pytest.fixture
async def web(bot: BotUnderTest) -> AsyncIterator[Web]:
    port = await bot.app.start_web(port=0)
    assert port
    async with aiohttp.ClientSession() as http:
        yield Web(bot, port, http)


def record_triggers(bot: BotUnderTest) -> list[Trigger]:
    fired: list[Trigger] = []

    async def hear(trigger: Trigger) -> None:
        fired.append(trigger)

    bot.app.triggers.subscribe("test", hear)
    return fired


async def clicks_on(token: str) -> int:
    row = await TrackedLink.get(token=token)
    return row.clicks


async def test_a_known_token_redirects_to_its_target_and_is_never_cached(
    bot: BotUnderTest, web: Web
) -> None:
    token = await send_link(bot)
    status, headers, _ = await web.open(f"/l/{token}")
    assert status == 302
    assert headers["Location"] == FEEDING.url
    assert headers["Cache-Control"] == "no-store"
    assert await clicks_on(token) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/l/AAAAAAAAAAAAAAAAAAAAAA",  # well formed, never made
        "/l/%3Cscript%3Ealert(1)%3C%2Fscript%3E",  # not a token at all
        "/l/" + "A" * 65,
    ],
)
async def test_an_unknown_or_malformed_token_is_a_chinese_404_page(
    bot: BotUnderTest, web: Web, path: str
) -> None:
    await send_link(bot)
    status, headers, body = await web.open(path)
    assert status == 404
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "链接不存在" in body and "<html" in body
    assert "script" not in body.replace("<!doctype", "") and "AAAA" not in body
    assert "Location" not in headers
    assert await TrackedLink.filter(clicks__gt=0).count() == 0


async def test_her_click_tags_her_by_link_and_fires_the_link_trigger(
    bot: BotUnderTest, web: Web
) -> None:
    fired = record_triggers(bot)
    token = await send_link(bot)
    before = len(bot.actions)
    status, _, _ = await web.open(f"/l/{token}")
    assert status == 302
    tags = [a for a in bot.actions[before:] if a["action"] == "tag"]
    assert [(t["contact"], t["tag"], t["op"], t["source"]) for t in tags] == [
        ("b", "关注:新生儿知识", "add", "link")
    ]
    assert await bot.app.tags.tags_of("b") == {"关注:新生儿知识": "link"}
    links = [t for t in fired if t.kind == "link"]
    assert links == [Trigger("link", "b", "feeding", START, bot.channel.account_id)]
    await bot.app.interactions.flush()
    (row,) = await Interaction.filter(kind="click")
    assert (row.contact_id, row.room_id, row.text, row.account_id) == (
        "b",
        None,
        "feeding",
        bot.channel.account_id,
    )
    assert token not in row.event_id  # the log cannot be used to click as her


async def test_a_click_by_someone_else_counts_but_tags_nobody(bot: BotUnderTest) -> None:
    fired = record_triggers(bot)
    token = await send_link(bot)
    clicks = clicks_in(bot.app.features)
    assert await clicks.click(token, clicker="c") == FEEDING.url
    assert await clicks_on(token) == 1
    assert bot.of("tag") == [] and [t for t in fired if t.kind == "link"] == []
    assert await bot.app.tags.tags_of("c") == {} and await bot.app.tags.tags_of("b") == {}
    # The one it was sent to, named: she is credited.
    assert await clicks.click(token, clicker="b") == FEEDING.url
    assert await bot.app.tags.tags_of("b") == {"关注:新生儿知识": "link"}


# A link that went to a group tags nobody, even one made naming her (a step that speaks to
# her in a group): anyone in the group may have opened it.
@pytest.mark.parametrize("to", [None, "b"])
async def test_a_group_posts_link_counts_and_tags_nobody(
    bot: BotUnderTest, web: Web, to: str | None
) -> None:
    bot.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
    await bot.register_room("R1")
    fired = record_triggers(bot)
    token = await send_link(bot, to=to, room="R1", source="post:morning-tips")
    status, headers, _ = await web.open(f"/l/{token}")
    assert (status, headers["Location"]) == (302, FEEDING.url)
    assert await clicks_on(token) == 1
    assert bot.of("tag") == [] and [t for t in fired if t.kind == "link"] == []
    await bot.app.interactions.flush()
    (row,) = await Interaction.filter(kind="click")
    assert (row.contact_id, row.room_id) == (to or "", "R1")


def test_tokens_are_128_bits_from_secrets_unless_seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(START)
    first = {LinkMaker(clock, "http://x").token() for _ in range(1000)}
    second = {LinkMaker(clock, "http://x").token() for _ in range(1000)}
    assert len(first) == len(second) == 1000 and not first & second
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22,}", t) for t in first | second)

    import bot.links

    drawn: list[int] = []

    def token_bytes(n: int) -> bytes:
        drawn.append(n)
        return bytes(n)

    monkeypatch.setattr(bot.links.secrets, "token_bytes", token_bytes)
    assert LinkMaker(clock, "http://x").token() == "A" * 22
    assert drawn == [16]  # 128 bits, from secrets

    def seeded() -> list[str]:
        maker = LinkMaker(clock, "http://x", random.Random("links:0"))
        return [maker.token() for _ in range(5)]

    assert seeded() == seeded() and len(set(seeded())) == 5
    assert drawn == [16]  # a seeded maker never asks secrets


async def test_conversion_counts_sent_clicked_and_converted(bot: BotUnderTest) -> None:
    tokens = {}
    for n, who in enumerate(["b", "c", "d"]):
        await marketing.record(f"send:{who}", SOURCE, START, contact_id=who)
        tokens[who] = await send_link(bot, to=who, key=f"k{n}")
    await marketing.record("send:other", "seq:mid-pregnancy:day1", START, contact_id="e")
    clicks = clicks_in(bot.app.features)
    await clicks.click(tokens["b"])
    await clicks.click(tokens["b"])
    await clicks.click(tokens["c"], clicker="x")  # forwarded: still a click on c's message
    await bot.app.tags.add("c", "已购买", source="admin")
    await bot.app.tags.add("e", "已购买", source="admin")  # not sent this step

    result = await link_store.conversion(SOURCE, ["已购买"])
    assert (result.sent, result.clicked, result.clicks, result.converted) == (3, 2, 3, 1)
    assert (await link_store.conversion(SOURCE)).converted == 0
    other = await link_store.conversion("seq:mid-pregnancy:day1", ["已购买"])
    assert (other.sent, other.clicked, other.clicks, other.converted) == (1, 0, 0, 1)


async def test_a_failure_after_the_lookup_still_sends_her_to_the_page(
    bot: BotUnderTest, web: Web, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    token = await send_link(bot)

    async def broken(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("tag store broke")

    monkeypatch.setattr(bot.app.tags, "add", broken)
    status, headers, _ = await web.open(f"/l/{token}")
    assert (status, headers["Location"]) == (302, FEEDING.url)
    assert await clicks_on(token) == 1
    assert any("could not be counted or credited" in r.getMessage() for r in caplog.records)


async def test_the_store_down_is_a_503_page_and_the_bot_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with services.postgres_behind_proxy() as (proxy, url):
        async with BotUnderTest(database_url=url) as bot:
            token = await send_link(bot)
            port = await bot.app.start_web(port=0)
            async with aiohttp.ClientSession() as http:
                web = Web(bot, port or 0, http)
                await proxy.cut()
                status, headers, body = await web.open(f"/l/{token}")
                assert status == 503
                assert headers["Content-Type"] == "text/html; charset=utf-8"
                assert "请稍后再试" in body and "Traceback" not in body and token not in body
                await proxy.restore()
                status, headers, _ = await web.open(f"/l/{token}")
                assert (status, headers["Location"]) == (302, FEEDING.url)
            assert await clicks_on(token) == 1  # the lost click, and only it
            said = await bot.says("b", "宝宝湿疹怎么办")
            assert any("湿疹" in a["text"] for a in said if a["action"] == "say")
        assert any("answered 503" in r.getMessage() for r in caplog.records)


async def test_the_server_answers_clicks_side_by_side(bot: BotUnderTest, web: Web) -> None:
    token = await send_link(bot)
    results = await asyncio.gather(*(web.open(f"/l/{token}") for _ in range(5)))
    assert [status for status, _, _ in results] == [302] * 5
    assert await clicks_on(token) == 5
    assert len(bot.of("tag")) == 1  # tagged once, however often she opens it


async def test_the_simulator_clicks_as_her_by_default_or_as_a_named_persona(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.simrepl import HELP, Repl

    async with BotUnderTest() as bot:
        repl = Repl(bot.app)
        await repl.setup()
        token = await send_link(bot, to="小美")
        url = f"{bot.app.config.web.base}/l/{token}"
        for line in [f"/click {token} 小丽", f"/click {url}", "/click", "/click nosuchlink"]:
            assert await repl.handle_line(line)
            await bot.app.settle()
        assert await clicks_on(token) == 2
    out = capsys.readouterr().out
    assert f"🔗 小丽 点开了链接 → {FEEDING.url}" in out
    assert f"🔗 收到链接的人 点开了链接 → {FEEDING.url}" in out
    assert out.count("🏷  小美 +关注:新生儿知识 (link)") == 1
    assert "用法：/click" in out and "没有这个链接 (404)" in out
    assert "/click" in HELP
