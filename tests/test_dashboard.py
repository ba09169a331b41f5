"""The managers' dashboard over real loopback HTTP: nobody sees a page without logging in,
logins are rate-limited and expire, every form is CSRF-checked, mothers' text is escaped
everywhere, tables download as CSV that Excel reads, and the overview shows what the
database holds. On SQLite with the in-process key-value store, and on PostgreSQL with
Redis."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import hashlib
import io
import logging
import re
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from bot.web import client_address
from handlers.dashboard import users as dashboard_users
from handlers.dashboard.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, Auth
from handlers.dashboard.render import csv_cell, json_block
from storage import dashboard as store
from storage import metrics, people
from storage.db import Database
from storage.models import (
    Contact,
    DashboardUser,
    Interaction,
    Order,
    RfmScore,
    Room,
    TagEvent,
    WebSession,
)
from tests import services
from tests.harness import REPO, BotUnderTest, copy_project

PASSWORD = "correct horse battery"
PAGE = 50  # rows of a page of the dashboard
EVIL = "<script>alert(1)</script>"
PAGES = [
    "/dashboard/",
    "/dashboard/groups",
    "/dashboard/groups/R1",
    "/dashboard/channels",
    "/dashboard/channels/qr1",
    "/dashboard/rfm",
    "/dashboard/contacts",
    "/dashboard/contacts/b",
]


class Dash:
    """A browser on the dashboard: keeps cookies, never follows redirects (we check
    where they go)."""

    def __init__(self, bot: BotUnderTest, port: int, http: aiohttp.ClientSession) -> None:
        self.bot, self.port, self.http = bot, port, http

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def get(self, path: str) -> tuple[int, Any, str]:
        async with self.http.get(self.url(path), allow_redirects=False) as resp:
            return resp.status, resp.headers, await resp.text()

    async def get_bytes(self, path: str) -> tuple[int, Any, bytes]:
        async with self.http.get(self.url(path), allow_redirects=False) as resp:
            return resp.status, resp.headers, await resp.read()

    async def post(self, path: str, data: dict[str, str]) -> tuple[int, Any, str]:
        async with self.http.post(self.url(path), data=data, allow_redirects=False) as resp:
            return resp.status, resp.headers, await resp.text()

    def cookie(self, name: str) -> str:
        for morsel in self.http.cookie_jar:
            if morsel.key == name:
                return morsel.value
        return ""

    async def login_form(self) -> str:
        status, _, html = await self.get("/dashboard/login")
        assert status == 200
        match = re.search(r'name="csrf" value="([^"]+)"', html)
        assert match, html
        return match.group(1)

    async def login(self, name: str = "ann", password: str = PASSWORD) -> tuple[int, Any, str]:
        csrf = await self.login_form()
        return await self.post(
            "/dashboard/login", {"csrf": csrf, "name": name, "password": password}
        )

    async def page_csrf(self) -> str:
        _, _, html = await self.get("/dashboard/groups")
        match = re.search(r'name="csrf" value="([^"]+)"', html)
        assert match, html
        return match.group(1)


async def add_user(bot: BotUnderTest, name: str = "ann", password: str = PASSWORD) -> None:
    assert await store.add_user(name, dashboard_users.hash_password(password), bot.clock.now())


async def seed(bot: BotUnderTest) -> None:
    """Three mothers, one of them with a hostile name, in a group; a message each."""
    bot.room("R1", "孕妈交流群", owner="o", members=["o"])
    await bot.register_room("R1")
    await bot.join("R1", "b", "小美")
    await bot.join("R1", "x", EVIL)
    await bot.says("b", "宝宝湿疹怎么办", room="R1")
    await bot.says("x", f"{EVIL}</script><img src=x onerror=alert(2)>", room="R1")
    await bot.app.interactions.flush(force=True)
    await Contact.filter(contact_id="b").update(channel="qr1")


@contextlib.asynccontextmanager
async def started(kind: str, tmp_path: Path, base_dir: Path = REPO) -> AsyncIterator[BotUnderTest]:
    """A bot of the project at `base_dir` on SQLite (in tmp_path) or on PostgreSQL and Redis."""
    if kind == "sqlite":
        url = f"sqlite://{tmp_path}/dash.sqlite3"
        async with BotUnderTest(base_dir, database_url=url) as running:
            yield running
        return
    pg, redis = services.postgres_url(), services.redis_url()
    db = Database(pg)
    await db.open()
    await db.truncate_all()
    await db.close()
    prefix = f"mamabot-test:{uuid.uuid4().hex}:"
    async with BotUnderTest(
        base_dir, database_url=pg, redis_url=redis, kv_prefix=prefix
    ) as running:
        yield running


@pytest.fixture(params=["sqlite", "postgres"])
async def bot(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BotUnderTest]:
    async with started(request.param, tmp_path) as running:
        yield running


async def open_dash(bot: BotUnderTest) -> AsyncIterator[Dash]:
    port = await bot.app.start_web(port=0)
    assert port
    # unsafe: keep cookies set by an IP address (127.0.0.1).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Dash(bot, port, http)


@pytest.fixture
async def dash(bot: BotUnderTest) -> AsyncIterator[Dash]:
    async for d in open_dash(bot):
        yield d


@pytest.fixture
async def ann(bot: BotUnderTest, dash: Dash) -> Dash:
    """Logged in as ann, with the seeded mothers in the database."""
    await seed(bot)
    await add_user(bot)
    status, headers, _ = await dash.login()
    assert status == 303, status
    assert headers["Location"] == "/dashboard/"
    return dash


# ------------------------------------------------------------------ login required


async def test_every_page_sends_a_stranger_to_the_login_form_and_shows_nothing(
    bot: BotUnderTest, dash: Dash
) -> None:
    await seed(bot)
    for path in [*PAGES, "/dashboard/contacts?format=csv", "/dashboard/contacts/b?format=csv"]:
        status, headers, body = await dash.get(path)
        assert status == 303, path
        assert headers["Location"].startswith("/dashboard/login?next=/dashboard/"), path
        assert body == "" and "小美" not in body
        assert headers["Cache-Control"] == "no-store"
    status, _, _ = await dash.post("/dashboard/logout", {"csrf": "x"})
    assert status == 403


async def test_a_forged_or_stale_session_cookie_is_no_login(bot: BotUnderTest, dash: Dash) -> None:
    await add_user(bot)
    dash.http.cookie_jar.update_cookies({SESSION_COOKIE: "made-up"})
    status, _, _ = await dash.get("/dashboard/")
    assert status == 303


async def test_logging_in_opens_every_page_with_safe_headers(ann: Dash) -> None:
    for path in PAGES:
        status, headers, body = await ann.get(path)
        assert status == 200, (path, body[:500])
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self';" in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"
        assert '<meta name="viewport"' in body
        # Everything from here: no CDN, no inline script, no web font.
        assert "http://" not in body and "https://" not in body and "//cdn" not in body
        for script in re.findall(r"<script[^>]*>", body):
            assert 'type="application/json"' in script or "src=" in script, script


async def test_the_session_cookie_is_httponly_strict_and_the_database_keeps_its_hash(
    bot: BotUnderTest, dash: Dash
) -> None:
    await add_user(bot)
    csrf = await dash.login_form()
    async with dash.http.post(
        dash.url("/dashboard/login"),
        data={"csrf": csrf, "name": "ann", "password": PASSWORD},
        allow_redirects=False,
    ) as resp:
        set_cookie = next(v for v in resp.headers.getall("Set-Cookie") if SESSION_COOKIE in v)
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert "Path=/dashboard" in set_cookie and "Secure" not in set_cookie
    token = dash.cookie(SESSION_COOKIE)
    (row,) = await WebSession.all()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert row.user_name == "ann"
    assert row.expires_at == bot.clock.now() + timedelta(hours=12)


async def test_secure_cookies_when_configured(tmp_path: Path) -> None:
    copy_project(tmp_path)
    path = tmp_path / "config.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("secure_cookies = false", "secure_cookies = true"), encoding="utf-8"
    )
    async with BotUnderTest(tmp_path) as bot:
        await add_user(bot)
        async for dash in open_dash(bot):
            async with dash.http.get(dash.url("/dashboard/login")) as resp:
                (form_cookie,) = resp.headers.getall("Set-Cookie")
            assert LOGIN_CSRF_COOKIE in form_cookie and "Secure" in form_cookie
            csrf = resp.cookies[LOGIN_CSRF_COOKIE].value
            async with dash.http.post(  # over plain HTTP: we send the Secure cookie back
                dash.url("/dashboard/login"),
                data={"csrf": csrf, "name": "ann", "password": PASSWORD},
                headers={"Cookie": f"{LOGIN_CSRF_COOKIE}={csrf}"},
                allow_redirects=False,
            ) as resp:
                assert resp.status == 303
                cookies = resp.headers.getall("Set-Cookie")
            assert any(SESSION_COOKIE in c and "Secure" in c for c in cookies)


async def test_after_login_she_lands_where_she_was_going_but_never_off_site(
    bot: BotUnderTest, dash: Dash
) -> None:
    await add_user(bot)
    for target, landing in [
        ("/dashboard/rfm?segment=x", "/dashboard/rfm?segment=x"),
        ("https://evil.example/", "/dashboard/"),
        ("//evil.example/dashboard/", "/dashboard/"),
        ("/dashboard//evil.example", "/dashboard/"),
    ]:
        dash.http.cookie_jar.clear()
        csrf = await dash.login_form()
        status, headers, _ = await dash.post(
            "/dashboard/login",
            {"csrf": csrf, "name": "ann", "password": PASSWORD, "next": target},
        )
        assert status == 303
        assert headers["Location"] == landing


# ------------------------------------------------------------------ wrong passwords


async def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(
    bot: BotUnderTest, dash: Dash
) -> None:
    await add_user(bot)
    wrong = await dash.login(password="not the password")
    unknown = await dash.login(name="bob")
    assert wrong[0] == unknown[0] == 401
    assert "用户名或密码错误" in wrong[2]
    assert wrong[2].replace('value="ann"', "") == unknown[2].replace('value="bob"', "")
    assert not dash.cookie(SESSION_COOKIE)
    assert await WebSession.all().count() == 0


async def test_a_disabled_user_is_logged_out_and_cannot_log_in(
    bot: BotUnderTest, dash: Dash
) -> None:
    await add_user(bot)
    assert (await dash.login())[0] == 303
    assert (await dash.get("/dashboard/"))[0] == 200
    assert await store.disable_user("ann")
    assert (await dash.get("/dashboard/"))[0] == 303
    assert (await dash.login())[0] == 401
    # Disabled in the database by other means, her open session ends with it too.
    await add_user(bot, "bea")
    assert (await dash.login("bea"))[0] == 303
    await DashboardUser.filter(name="bea").update(disabled=True)
    assert (await dash.get("/dashboard/"))[0] == 303


async def test_failed_logins_are_limited_per_name_and_per_address(bot: BotUnderTest) -> None:
    auth = Auth(bot.app.services)
    for _ in range(5):  # five failures: each attempt keeps the slot it took
        assert await auth.reserve("ann", "10.0.0.1")
    assert not await auth.reserve("ann", "10.0.0.2")  # her name, from anywhere
    assert not await auth.reserve("bob", "10.0.0.1")  # anyone, from that address
    for _ in range(5):  # refused without a check: no slot taken from bob's name
        assert not await auth.reserve("bob", "10.0.0.1")
    assert await auth.reserve("bob", "10.0.0.2")
    for _ in range(10):  # right passwords give their slots back
        assert await auth.reserve("cy", "10.0.0.3")
        await auth.release("cy", "10.0.0.3")
    bot.clock.advance(timedelta(minutes=15, seconds=1))
    assert await auth.reserve("ann", "10.0.0.1")


async def test_after_five_failures_even_the_right_password_waits_for_the_window(
    bot: BotUnderTest, dash: Dash
) -> None:
    await add_user(bot)
    for _ in range(5):
        assert (await dash.login(password="guess"))[0] == 401
    status, _, body = await dash.login()
    assert status == 429
    assert "登录失败次数过多" in body
    assert await WebSession.all().count() == 0
    bot.clock.advance(timedelta(minutes=14))
    assert (await dash.login())[0] == 429
    bot.clock.advance(timedelta(minutes=1, seconds=1))
    assert (await dash.login())[0] == 303


# ------------------------------------------------------------------ expiry and logout


async def test_a_login_expires_on_the_bots_clock(bot: BotUnderTest, dash: Dash) -> None:
    await add_user(bot)
    assert (await dash.login())[0] == 303
    bot.clock.advance(timedelta(hours=11, minutes=59))
    assert (await dash.get("/dashboard/groups"))[0] == 200
    bot.clock.advance(timedelta(minutes=1))
    status, headers, _ = await dash.get("/dashboard/groups")
    assert status == 303 and headers["Location"].startswith("/dashboard/login")


async def test_logout_deletes_the_session_so_a_copied_cookie_is_worthless(
    bot: BotUnderTest, dash: Dash
) -> None:
    await add_user(bot)
    await dash.login()
    token = dash.cookie(SESSION_COOKIE)
    csrf = await dash.page_csrf()
    status, headers, _ = await dash.post("/dashboard/logout", {"csrf": csrf})
    assert status == 303 and headers["Location"] == "/dashboard/login"
    assert await WebSession.all().count() == 0
    dash.http.cookie_jar.update_cookies({SESSION_COOKIE: token})
    assert (await dash.get("/dashboard/"))[0] == 303


# ------------------------------------------------------------------ CSRF


async def test_the_login_form_needs_its_double_submitted_token(
    bot: BotUnderTest, dash: Dash
) -> None:
    await add_user(bot)
    csrf = await dash.login_form()
    assert dash.cookie(LOGIN_CSRF_COOKIE) == csrf
    for form in [
        {"name": "ann", "password": PASSWORD},
        {"csrf": "forged-forged-forged-forged", "name": "ann", "password": PASSWORD},
        {"csrf": "", "name": "ann", "password": PASSWORD},
    ]:
        assert (await dash.post("/dashboard/login", form))[0] == 403
    dash.http.cookie_jar.clear()  # the token without its cookie (another site's form)
    assert (
        await dash.post("/dashboard/login", {"csrf": csrf, "name": "ann", "password": PASSWORD})
    )[0] == 403
    assert await WebSession.all().count() == 0


async def test_logout_without_the_sessions_token_is_refused(ann: Dash) -> None:
    for form in [{}, {"csrf": "forged"}, {"csrf": ann.cookie(LOGIN_CSRF_COOKIE) or "x"}]:
        assert (await ann.post("/dashboard/logout", form))[0] == 403
    assert await WebSession.all().count() == 1
    assert (await ann.get("/dashboard/"))[0] == 200


# ------------------------------------------------------------------ escaping


async def test_a_hostile_name_and_message_are_escaped_on_every_page(
    bot: BotUnderTest, ann: Dash
) -> None:
    await RfmScore.create(
        contact_id="x",
        recency_days=3,
        frequency=2,
        monetary_cents=9900,
        r=5,
        f=4,
        m=3,
        segment=f"{EVIL}</script>",
        computed_at=bot.clock.now(),
    )
    await bot.app.tags.add("x", f"{EVIL}标签", source="admin")
    pages = [
        *PAGES,
        "/dashboard/contacts/x",
        f"/dashboard/contacts?q={EVIL}",
        "/dashboard/rfm?segment=" + EVIL,
    ]
    seen_escaped = False
    for path in pages:
        status, _, body = await ann.get(path)
        assert status in (200, 404), path
        assert "<script>alert" not in body, path
        assert "<img src=x" not in body, path
        assert "</script></script>" not in body, path
        seen_escaped |= "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert seen_escaped
    _, _, contact = await ann.get("/dashboard/contacts/x")
    assert "&lt;img src=x onerror=alert(2)&gt;" in contact  # her message, shown as text
    _, _, rfm = await ann.get("/dashboard/rfm")
    block = re.search(r'<script type="application/json" id="dashboard-charts">(.*?)</script>', rfm)
    assert block and "\\u003cscript\\u003e" in block.group(1)


def test_json_blocks_cannot_close_their_script_tag() -> None:
    text = str(json_block({"name": "</script><script>alert(1)</script>&\u2028"}))
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    import json

    assert json.loads(text) == {"name": "</script><script>alert(1)</script>&\u2028"}


# ------------------------------------------------------------------ CSV


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the BOM
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


async def test_tables_download_as_csv_excel_reads(bot: BotUnderTest, ann: Dash) -> None:
    await Contact.filter(contact_id="b").update(name='=HYPERLINK("http://evil","点我")')
    status, headers, data = await ann.get_bytes("/dashboard/contacts?format=csv&table=contacts")
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    assert headers["Content-Disposition"] == 'attachment; filename="contacts.csv"'
    assert headers["Cache-Control"] == "no-store"
    rows = read_csv(data)
    assert rows[0] == ["客户", "ID", "渠道", "好友", "首次出现", "标签"]
    by_id = {row[1]: row for row in rows[1:]}
    assert by_id["b"][0] == '\'=HYPERLINK("http://evil","点我")'  # text, not a formula
    assert by_id["x"][0] == EVIL and by_id["b"][2] == "qr1"
    assert set(by_id) == {"o", "b", "x"} or set(by_id) >= {"b", "x"}

    _, _, data = await ann.get_bytes("/dashboard/contacts/x?format=csv&table=timeline")
    timeline = read_csv(data)
    assert timeline[0] == ["时间", "类型", "群", "消息类型", "内容"]
    assert any(row[4].startswith(EVIL) for row in timeline[1:])
    _, _, data = await ann.get_bytes("/dashboard/groups?format=csv")
    assert read_csv(data)[1][:2] == ["孕妈交流群", "R1"]
    status, _, body = await ann.get("/dashboard/groups?format=csv&table=nope")
    assert status == 400 and "没有这个表格" in body


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted() -> None:
    for formula in ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1", "|calc"]:
        assert csv_cell(formula).startswith("'")
    assert csv_cell(-3) == "-3" and csv_cell(2.5) == "2.5" and csv_cell("小美") == "小美"


# ------------------------------------------------------------------ the figures


def shown_totals(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-metric="(\w+)">(?:<span class="num">)?([^<]*)<', html))


async def test_the_overview_shows_what_the_database_holds(bot: BotUnderTest, ann: Dash) -> None:
    today = bot.clock.now().date()
    status, _, html = await ann.get(f"/dashboard/?from={today}&to={today}")
    assert status == 200
    shown = shown_totals(html)
    expected = await metrics.overview(
        today, today, metrics.Filters(), ZoneInfo(bot.app.config.bot.timezone), bot.clock.now()
    )
    joins = await Interaction.filter(kind="join").count()
    assert joins == 2
    assert shown["joins"] == str(expected["totals"]["joins"]) == str(joins)
    assert shown["new_friends"] == f"{expected['totals']['new_friends']:,}"
    assert len(re.findall(r"<tr>", html.split('data-table="daily"')[1].split("</table>")[0])) == 2


async def test_bad_parameters_get_a_clear_page_not_a_crash(ann: Dash) -> None:
    for path, text in [
        ("/dashboard/?from=yesterday", "日期格式应为 YYYY-MM-DD"),
        ("/dashboard/?from=2026-12-01&to=2026-11-01", "开始日期不能晚于结束日期"),
        ("/dashboard/?from=2020-01-01&to=2026-11-01", "日期范围最长"),
        ("/dashboard/contacts?page=0", "页码应为正整数"),
        ("/dashboard/contacts/b?cursor=nonsense", "翻页参数无效"),
    ]:
        status, _, body = await ann.get(path)
        assert status == 400 and text in body, path
    status, _, body = await ann.get("/dashboard/contacts/nobody")
    assert status == 404 and "没有这个客户" in body
    status, _, body = await ann.get("/dashboard/groups/nowhere")
    assert status == 404 and "没有这个群" in body


async def test_the_contact_page_shows_her_360_view(bot: BotUnderTest, ann: Dash) -> None:
    await bot.app.tags.add("b", "关注:湿疹", source="keyword", detail="湿疹")
    status, _, html = await ann.get("/dashboard/contacts/b")
    assert status == 200
    assert 'data-field="name">小美<' in html
    assert "关注:湿疹" in html and "关键词" in html  # the tag, its source
    assert "宝宝湿疹怎么办" in html  # her timeline
    assert "孕妈交流群" in html  # her group
    assert "删除了机器人" not in html
    await people.friend_lost("b", bot.clock.now())
    _, _, html = await ann.get("/dashboard/contacts/b")
    assert "删除了机器人" in html


async def test_the_search_finds_by_name_id_and_tag(bot: BotUnderTest, ann: Dash) -> None:
    await bot.app.tags.add("b", "孕中期", source="stage")
    _, _, html = await ann.get("/dashboard/contacts?q=小美")
    assert "/dashboard/contacts/b" in html and "/dashboard/contacts/x" not in html
    _, _, html = await ann.get("/dashboard/contacts?q=x")
    assert "/dashboard/contacts/x" in html
    _, _, html = await ann.get("/dashboard/contacts?tag=孕中期")
    assert "/dashboard/contacts/b" in html and "/dashboard/contacts/x" not in html


async def test_the_rfm_table_counts_each_segment(bot: BotUnderTest, ann: Dash) -> None:
    now = bot.clock.now()
    for cid, seg, cents in [("b", "高价值", 50000), ("x", "高价值", 30000), ("o", "流失风险", 100)]:
        await RfmScore.create(
            contact_id=cid,
            recency_days=5,
            frequency=3,
            monetary_cents=cents,
            r=5,
            f=5,
            m=5,
            segment=seg,
            computed_at=now,
        )
    _, _, data = await ann.get_bytes("/dashboard/rfm?format=csv&table=segments")
    rows = read_csv(data)[1:]
    assert [r[0] for r in rows] == sorted(["高价值", "流失风险"])
    by = {r[0]: r for r in rows}
    assert by["高价值"][1] == "2" and by["高价值"][4] == "800.00"
    _, _, html = await ann.get("/dashboard/rfm?segment=高价值")
    assert "/dashboard/contacts/b" in html and "/dashboard/contacts/o" not in html


# ------------------------------------------------------------------ static files


async def test_plotly_comes_from_the_installed_package_and_is_kept_long(dash: Dash) -> None:
    import plotly

    status, headers, body = await dash.get_bytes("/dashboard/static/plotly.min.js")
    assert status == 200
    assert "max-age=31536000" in headers["Cache-Control"]
    expected = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    assert body == expected  # the client un-gzips
    assert (await dash.get("/dashboard/static/../config.toml"))[0] == 404
    assert (await dash.get("/dashboard/static/nope.js"))[0] == 404


# ------------------------------------------------------------------ mamabot users


def users_cli(
    tmp_path: Path,
    action: str,
    name: str = "",
    *,
    stdin: str | None = None,
    replace: bool = False,
    monkeypatch: pytest.MonkeyPatch,
) -> int:
    args = argparse.Namespace(
        action=action,
        name=name,
        password_stdin=stdin is not None,
        replace=replace,
        dir=str(tmp_path),
        db=f"sqlite://{tmp_path}/users.sqlite3",
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin or ""))
    return dashboard_users.cli_users(args)


def test_users_are_added_listed_and_disabled_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def migrate() -> None:  # `mamabot migrate` first, as on a new install
        db = Database(f"sqlite://{tmp_path}/users.sqlite3")
        await db.open()
        await db.close()

    asyncio.run(migrate())
    cli = lambda *a, **k: users_cli(tmp_path, *a, monkeypatch=monkeypatch, **k)  # noqa: E731
    assert cli("add", "ann") == 2
    assert "--password-stdin" in capsys.readouterr().err
    assert cli("add", "ann", stdin="short\n") == 2
    assert "至少 10 个字符" in capsys.readouterr().err
    assert cli("add", "ann", stdin="") == 2
    assert cli("add", "an n", stdin=PASSWORD) == 2
    assert cli("add", "ann", stdin=PASSWORD + "\n") == 0
    assert "added ann" in capsys.readouterr().out
    assert cli("add", "ann", stdin="another password") == 1
    assert "--replace" in capsys.readouterr().err
    assert cli("list") == 0
    assert re.search(r"^ann\tactive\tlast login -$", capsys.readouterr().out, re.M)
    assert cli("disable", "ann") == 0
    assert cli("disable", "bob") == 1
    assert cli("list") == 0
    assert "ann\tdisabled" in capsys.readouterr().out
    assert cli("add", "ann", stdin="another password", replace=True) == 0

    async def check() -> None:
        db = Database(f"sqlite://{tmp_path}/users.sqlite3")
        await db.open()
        try:
            user = await store.get_user("ann")
            assert user is not None and not user.disabled
            assert user.password_hash.startswith("$argon2id$")
            assert dashboard_users.check_password("another password", user.password_hash)[0]
            assert not dashboard_users.check_password(PASSWORD, user.password_hash)[0]
        finally:
            await db.close()

    asyncio.run(check())


# ------------------------------------------------------------------ odd data and odd input


def href(html: str, label: str) -> str:
    """The target of the link whose text is `label`, as a browser would fetch it."""
    match = re.search(r'<a href="([^"]*)">' + re.escape(label) + "<", html)
    assert match, label
    return unescape(match.group(1))


async def test_contacts_without_a_channel_code_show_as_no_channel_without_a_link(
    bot: BotUnderTest, ann: Dash
) -> None:
    now = bot.clock.now()
    for cid, channel in [("f1", None), ("f2", "")]:
        await Contact.create(
            contact_id=cid,
            name="新朋友",
            is_friend=True,
            channel=channel,
            first_seen_at=now,
            updated_at=now,
        )
        await Interaction.create(
            at=now,
            account_id="acc",
            event_id=uuid.uuid4().hex,
            kind="friend_request",
            room_id=None,
            contact_id=cid,
            msg_type=None,
            text=None,
        )
    for path in ["/dashboard/", "/dashboard/channels"]:
        status, _, html = await ann.get(path)
        assert status == 200, path
        table = html.split('data-table="channels"')[1].split("</table>")[0]
        assert "<td>无渠道</td>" in table, path
        if path.endswith("channels"):  # a real code still links to its page
            assert 'href="/dashboard/channels/qr1?' in table
        assert 'href="/dashboard/channels?' not in table and "/dashboard/channels/?" not in table


async def test_nul_characters_and_far_dates_are_a_clear_400_page(
    bot: BotUnderTest, ann: Dash
) -> None:
    for path in [
        "/dashboard/contacts?q=a%00b",
        "/dashboard/contacts?tag=a%00b",
        "/dashboard/contacts?a%00=1",
        "/dashboard/contacts/a%00b",
        "/dashboard/groups/a%00b",
        "/dashboard/channels/a%00b",
        "/dashboard/rfm?segment=a%00b",
        "/dashboard/?from=2026-01-01%00",
    ]:
        status, _, body = await ann.get(path)
        assert status == 400 and "空字符" in body, path
    for path in [
        "/dashboard/?from=0001-01-01&to=0001-01-02",
        "/dashboard/?from=9999-12-30&to=9999-12-31",
        "/dashboard/channels?from=1999-12-31&to=2000-01-01",
        "/dashboard/groups?to=3000-01-01",
    ]:
        status, _, body = await ann.get(path)
        assert status == 400 and "2000 年到 2999 年" in body, path
    status, _, body = await ann.get("/dashboard/?from=20260101")
    assert status == 400 and "YYYY-MM-DD" in body
    ann.http.cookie_jar.clear()
    status, _, body = await ann.login(name="ann\x00", password=PASSWORD)
    assert status == 401 and "\x00" not in body


async def test_links_to_ids_holding_hash_question_mark_or_percent_lead_back_to_them(
    bot: BotUnderTest, ann: Dash
) -> None:
    odd = "a#b?c%25d"
    now = bot.clock.now()
    await Contact.create(
        contact_id=odd, name="odd", channel="门店#1", first_seen_at=now, updated_at=now
    )
    for i in range(PAGE + 5):
        await Interaction.create(
            at=now - timedelta(minutes=i),
            account_id="a",
            event_id=uuid.uuid4().hex,
            kind="message",
            room_id=None,
            contact_id=odd,
            msg_type="text",
            text=f"m{i}",
        )
    _, _, html = await ann.get("/dashboard/contacts?q=odd")
    page = href(html, "odd")
    status, _, html = await ann.get(page)
    assert status == 200 and 'data-field="id">a#b?c%25d<' in html
    older = href(html, "更早的互动")
    status, _, html = await ann.get(older)
    assert status == 200 and f"m{PAGE}<" in html and "m0<" not in html
    csv_link = unescape(re.search(r'class="csv" href="([^"]+table=timeline)"', html).group(1))
    status, headers, data = await ann.get_bytes(csv_link)
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert len(read_csv(data)) == 1 + PAGE + 5
    # Her channel's page, and the pager of a list whose page is named by request.path.
    status, _, html = await ann.get("/dashboard/channels?from=2000-01-01&to=2000-12-31")
    assert status == 200
    status, _, html = await ann.get(href(html, "门店#1"))
    assert status == 200 and "渠道：门店#1" in html


async def test_the_unsegmented_rfm_row_links_to_its_own_members(
    bot: BotUnderTest, ann: Dash
) -> None:
    now = bot.clock.now()
    for cid, segment in [("b", ""), ("x", "高价值")]:
        await RfmScore.create(
            contact_id=cid,
            recency_days=1,
            frequency=1,
            monetary_cents=100,
            r=1,
            f=1,
            m=1,
            segment=segment,
            computed_at=now,
        )
    _, _, html = await ann.get("/dashboard/rfm")
    link = href(html, "未分层")
    assert link == "/dashboard/rfm?segment="
    status, _, html = await ann.get(link)
    members = html.split('data-table="members"')[1]
    assert status == 200 and "客户：未分层" in html
    assert "/dashboard/contacts/b" in members and "/dashboard/contacts/x" not in members
    _, _, html = await ann.get("/dashboard/rfm")
    members = html.split('data-table="members"')[1]
    assert "/dashboard/contacts/b" in members and "/dashboard/contacts/x" in members


async def test_the_bots_own_messages_never_count_even_once_it_learns_its_id(
    bot: BotUnderTest, ann: Dash
) -> None:
    learned = "wxid_learned_at_login"
    bot.app.self_ids.add(learned)  # what the app does when a wechaty account logs in
    known = sorted(i for i in bot.app.self_ids if i and i != learned)
    now = bot.clock.now()
    await Interaction.filter(kind="message").delete()  # only these three speak today
    for who in ["b", known[0], learned]:
        await Interaction.create(
            at=now - timedelta(minutes=5),
            account_id="acc1",
            event_id=uuid.uuid4().hex,
            kind="message",
            room_id="R1",
            contact_id=who,
            msg_type="text",
            text="大家好",
        )
    today = now.astimezone(ZoneInfo(bot.app.config.bot.timezone)).date()
    _, _, html = await ann.get(f"/dashboard/?from={today}&to={today}")
    daily = html.split('data-table="daily"')[1].split("</table>")[0]
    (row,) = re.findall(r"<tr>(.*?)</tr>", daily.split("<tbody>")[1], re.S)
    cells = re.findall(r"<td>(?:<span class=\"num\">)?([^<]*)<", row)
    assert cells[0] == str(today) and cells[2] == "1"  # the day's DAU: only 小美


# ------------------------------------------------------------------ the login form, hardened


async def test_parallel_wrong_passwords_are_checked_no_more_often_than_the_limit(
    bot: BotUnderTest, dash: Dash
) -> None:
    await add_user(bot)
    csrf = await dash.login_form()
    checked = 0
    real = dashboard_users.check_password

    def counting(password: str, password_hash: str | None) -> tuple[bool, str | None]:
        nonlocal checked
        checked += 1
        return real(password, password_hash)

    with mock.patch.object(dashboard_users, "check_password", counting):
        statuses = await asyncio.gather(
            *(
                dash.post(
                    "/dashboard/login", {"csrf": csrf, "name": "ann", "password": f"wrong-{i:04d}"}
                )
                for i in range(12)
            )
        )
    codes = sorted(status for status, _, _ in statuses)
    assert codes == [401] * 5 + [429] * 7
    assert checked == 5


async def test_a_right_password_gives_its_slot_back(bot: BotUnderTest, dash: Dash) -> None:
    await add_user(bot)
    for _ in range(4):
        assert (await dash.login(password="guess guess"))[0] == 401
    assert (await dash.login())[0] == 303
    dash.http.cookie_jar.clear()
    assert (await dash.login(password="guess guess"))[0] == 401  # the fifth failure
    assert (await dash.login())[0] == 429


async def test_password_checks_run_in_worker_threads_two_at_a_time(
    bot: BotUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_user(bot)
    auth = Auth(bot.app.services)
    loop_thread = threading.get_ident()
    ran_on: list[int] = []
    entered = threading.Semaphore(0)
    go = threading.Event()

    def held_check(password: str, password_hash: str | None) -> tuple[bool, str | None]:
        ran_on.append(threading.get_ident())
        entered.release()
        if threading.get_ident() != loop_thread:  # never block the loop, even when broken
            assert go.wait(timeout=60)
        return False, None

    monkeypatch.setattr(dashboard_users, "check_password", held_check)
    checks = [asyncio.create_task(auth.check("ann", "whatever-12")) for _ in range(2)]
    try:
        for _ in range(2):
            assert await asyncio.to_thread(entered.acquire, timeout=60)
        assert auth.verifying.locked()  # both slots are taken: a third check waits for one
    finally:
        go.set()
    assert await asyncio.gather(*checks) == [False, False]
    assert len(ran_on) == 2 and loop_thread not in ran_on


async def test_with_the_key_value_store_down_the_login_is_a_503_page_logged_once(
    bot: BotUnderTest,
    dash: Dash,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await add_user(bot)
    kv = bot.app.services.kv
    real_incr = kv.incr

    async def down(*args: Any, **kwargs: Any) -> int:
        raise ConnectionError("redis is restarting")

    monkeypatch.setattr(kv, "incr", down)
    with caplog.at_level(logging.INFO, logger="handlers.dashboard"):
        for _ in range(3):
            status, headers, body = await dash.login()
            assert status == 503 and "登录暂时不可用，请稍后再试" in body
            assert headers["Content-Type"].startswith("text/html")
        monkeypatch.setattr(kv, "incr", real_incr)
        assert (await dash.login())[0] == 303
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "key-value store failed" in errors[0].getMessage()
    assert any("answers again" in r.getMessage() for r in caplog.records)


async def test_next_keeps_its_whole_query_and_survives_a_typo(
    bot: BotUnderTest, dash: Dash
) -> None:
    await add_user(bot)
    status, headers, _ = await dash.get("/dashboard/contacts?q=a&tag=b%26c&page=1")
    assert status == 303
    status, _, html = await dash.get(headers["Location"])
    next_value = unescape(re.search(r'name="next" value="([^"]*)"', html).group(1))
    assert next_value == "/dashboard/contacts?q=a&tag=b%26c&page=1"
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    form = {"csrf": csrf, "name": "ann", "password": "typo typo typo", "next": next_value}
    status, _, html = await dash.post("/dashboard/login", form)
    assert status == 401
    kept = unescape(re.search(r'name="next" value="([^"]*)"', html).group(1))
    assert kept == next_value
    status, headers, _ = await dash.post("/dashboard/login", {**form, "password": PASSWORD})
    assert status == 303 and headers["Location"] == next_value
    # An id holding '#' and '%' comes back to the same page.
    await dash.post("/dashboard/logout", {"csrf": await dash.page_csrf()})
    status, headers, _ = await dash.get("/dashboard/contacts/a%23b%25c")
    status, _, html = await dash.get(headers["Location"])
    assert unescape(re.search(r'name="next" value="([^"]*)"', html).group(1)) == (
        "/dashboard/contacts/a%23b%25c"
    )


async def test_reloading_the_login_form_renews_its_csrf_cookie(dash: Dash) -> None:
    async with dash.http.get(dash.url("/dashboard/login")) as resp:
        first = resp.cookies[LOGIN_CSRF_COOKIE]
    async with dash.http.get(dash.url("/dashboard/login")) as resp:
        again = resp.cookies.get(LOGIN_CSRF_COOKIE)
        html = await resp.text()
    assert again is not None, "the reloaded form set no cookie"
    assert again.value == first.value and again["max-age"] == "3600"
    assert f'name="csrf" value="{first.value}"' in html


def request_from(peer: str, *forwarded: str) -> Any:
    transport = mock.Mock()
    transport.get_extra_info.return_value = (peer, 40000)
    headers = CIMultiDict([("X-Forwarded-For", value) for value in forwarded])
    return make_mocked_request("POST", "/dashboard/login", headers=headers, transport=transport)


def test_the_client_address_believes_only_trusted_proxies() -> None:
    proxies = ["127.0.0.1", "10.1.0.0/16", "not an address"]
    assert client_address(request_from("203.0.113.5", "1.2.3.4"), []) == "203.0.113.5"
    assert client_address(request_from("203.0.113.5", "1.2.3.4"), proxies) == "203.0.113.5"
    assert client_address(request_from("127.0.0.1", "1.2.3.4"), proxies) == "1.2.3.4"
    assert client_address(request_from("127.0.0.1"), proxies) == "127.0.0.1"
    # A client's own X-Forwarded-For is left of what the proxies appended: not believed.
    spoofed = request_from("127.0.0.1", "9.9.9.9, 1.2.3.4", "10.1.2.3")
    assert client_address(spoofed, proxies) == "1.2.3.4"
    assert client_address(request_from("127.0.0.1", "10.1.0.7, 127.0.0.1"), proxies) == "10.1.0.7"
    assert client_address(request_from("127.0.0.1", "junk, 2001:db8::1"), proxies) == "2001:db8::1"


async def test_behind_a_trusted_proxy_failures_count_per_forwarded_client(tmp_path: Path) -> None:
    copy_project(tmp_path)
    path = tmp_path / "config.toml"
    text = path.read_text(encoding="utf-8")
    assert "trusted_proxies = []" in text
    path.write_text(
        text.replace("trusted_proxies = []", 'trusted_proxies = ["127.0.0.1"]'), encoding="utf-8"
    )
    async with BotUnderTest(tmp_path) as bot:
        async for dash in open_dash(bot):
            csrf = await dash.login_form()

            async def attempt(name: str, client: str, dash: Dash = dash, csrf: str = csrf) -> int:
                async with dash.http.post(
                    dash.url("/dashboard/login"),
                    data={"csrf": csrf, "name": name, "password": "wrong wrong"},
                    headers={"X-Forwarded-For": client},
                    allow_redirects=False,
                ) as resp:
                    return resp.status

            for i in range(5):
                assert await attempt(f"user{i}", "198.51.100.1") == 401
            assert await attempt("user9", "198.51.100.1") == 429
            assert await attempt("user9", "6.6.6.6, 198.51.100.1") == 429  # spoofing fails
            assert await attempt("user9", "198.51.100.2") == 401  # another client


# ------------------------------------------------------------------ long lists


async def test_csv_downloads_hold_every_row_and_cut_lists_say_so(
    bot: BotUnderTest, ann: Dash
) -> None:
    now = bot.clock.now()
    many = 10_001  # one more than the old download cap
    await Contact.bulk_create(
        [
            Contact(
                contact_id=f"m{i:05d}",
                name=f"妈妈{i}",
                first_seen_at=now - timedelta(seconds=i // 3),  # equal times across batches
                updated_at=now,
            )
            for i in range(many)
        ]
    )
    await RfmScore.bulk_create(
        [
            RfmScore(
                contact_id=f"m{i:05d}",
                recency_days=1,
                frequency=1,
                monetary_cents=i % 7,  # equal amounts across batches
                r=1,
                f=1,
                m=1,
                segment="高价值",
                computed_at=now,
            )
            for i in range(many)
        ]
    )
    await Interaction.bulk_create(
        [
            Interaction(
                at=now - timedelta(seconds=i // 2),
                account_id="a",
                event_id=uuid.uuid4().hex,
                kind="message",
                room_id=None,
                contact_id="b",
                msg_type="text",
                text=f"t{i}",
            )
            for i in range(1_001)
        ]
    )
    await Order.bulk_create(
        [
            Order(
                order_id=f"o{i}",
                contact_id="b",
                amount_cents=100,
                placed_at=now - timedelta(hours=i // 2),
                created_at=now,
                updated_at=now,
            )
            for i in range(201)
        ]
    )
    await TagEvent.filter(contact_id="b").delete()  # the seed's own
    await TagEvent.bulk_create(
        [TagEvent(contact_id="b", tag=f"t{i}", op="add", source="rule", at=now) for i in range(501)]
    )
    rows = read_csv((await ann.get_bytes("/dashboard/contacts?format=csv"))[2])[1:]
    ids = [row[1] for row in rows]
    assert len(ids) == len(set(ids)) == many + 3  # and 小美, x, o from the seed
    rows = read_csv((await ann.get_bytes("/dashboard/rfm?format=csv&table=members"))[2])[1:]
    assert len({row[1] for row in rows}) == len(rows) == many
    _, _, data = await ann.get_bytes("/dashboard/contacts/b?format=csv&table=timeline")
    assert len({row[4] for row in read_csv(data)[1:] if re.fullmatch(r"t\d+", row[4])}) == 1_001
    _, _, data = await ann.get_bytes("/dashboard/contacts/b?format=csv&table=orders")
    assert len({row[0] for row in read_csv(data)[1:]}) == 201
    _, _, data = await ann.get_bytes("/dashboard/contacts/b?format=csv&table=tag_history")
    assert len(read_csv(data)) == 1 + 501
    _, _, html = await ann.get("/dashboard/contacts/b")
    assert "仅显示最近200条，共201条" in html
    assert "仅显示最近500条，共501条" in html


async def test_a_download_that_breaks_off_is_a_broken_download_not_a_short_file(
    bot: BotUnderTest, ann: Dash, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing(text: str, tag: str | None, batch: int = 1000) -> AsyncIterator[Any]:
        yield {
            "contact_id": "b",
            "name": "小美",
            "channel": None,
            "is_friend": False,
            "first_seen_at": None,
            "tags": [],
        }
        raise RuntimeError("the database went away")

    monkeypatch.setattr(store, "all_contacts", failing)
    with pytest.raises(aiohttp.ClientPayloadError):
        await ann.get_bytes("/dashboard/contacts?format=csv")


# ------------------------------------------------------------------ the account filter

ACCOUNTS = ["brand-a", "brand-b", "brand-idle"]  # brand-idle has no group and no data


def accounts_project(tmp: Path) -> Path:
    """A private project whose config.toml runs three simulated WeChat accounts."""
    copy_project(tmp)
    path = tmp / "config.toml"
    blocks = "".join(f'\n[[accounts]]\nid = "{a}"\nkind = "sim"\n' for a in ACCOUNTS)
    path.write_text(path.read_text(encoding="utf-8") + blocks, encoding="utf-8")
    return tmp


@pytest.fixture(params=["sqlite", "postgres"])
async def brands(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[BotUnderTest, Dash]]:
    """ann logged in on a bot whose accounts hold different data: brand-a has the seed's
    group R1 (two joins), brand-b its group R2 (three joins)."""
    async with started(request.param, tmp_path, accounts_project(tmp_path)) as bot:
        channels = bot.app.sim_channels()
        assert [c.account_id for c in channels] == ACCOUNTS
        await seed(bot)  # through the first channel, brand-a
        other = channels[1]
        bot.room("R2", "宝妈二群", owner="o2", members=["o2"])
        await people.upsert_room("R2", other.account_id, bot.clock.now(), topic="宝妈二群")
        for who in ["p", "q", "r"]:
            other.push(other.join("R2", who, f"妈妈{who}"))
        await bot.app.settle()
        await bot.app.interactions.flush(force=True)
        assert await Interaction.filter(kind="join", account_id="brand-a").count() == 2
        assert await Interaction.filter(kind="join", account_id="brand-b").count() == 3
        await add_user(bot)
        async for dash in open_dash(bot):
            status, _, _ = await dash.login()
            assert status == 303
            yield bot, dash


def local_today(bot: BotUnderTest) -> str:
    return str(bot.clock.now().astimezone(ZoneInfo(bot.app.config.bot.timezone)).date())


def account_options(html: str) -> list[tuple[str, bool]]:
    """The account menu's choices: (value, selected)."""
    menu = html.split('<select name="account">')[1].split("</select>")[0]
    options = re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', menu)
    return [(unescape(value), bool(chosen)) for value, chosen, _ in options]


async def test_the_overview_and_the_group_list_show_one_accounts_figures(
    brands: tuple[BotUnderTest, Dash],
) -> None:
    bot, dash = brands
    today = local_today(bot)
    for account, joins in [("brand-a", "2"), ("brand-b", "3"), ("brand-idle", "0"), ("", "5")]:
        status, _, html = await dash.get(f"/dashboard/?from={today}&to={today}&account={account}")
        assert status == 200, account
        assert shown_totals(html)["joins"] == joins, account
    _, _, html = await dash.get("/dashboard/")  # no account: all of them
    assert shown_totals(html)["joins"] == "5"
    status, _, html = await dash.get(f"/dashboard/groups?from={today}&to={today}&account=brand-b")
    groups = html.split('data-table="groups"')[1].split("</table>")[0]
    assert status == 200 and "宝妈二群" in groups and "孕妈交流群" not in groups
    # A group's link still leads to its page, for the same days.
    status, _, page = await dash.get(href(html, "宝妈二群"))
    assert status == 200 and "群：宝妈二群" in page
    assert f'name="from" value="{today}"' in page
    _, _, html = await dash.get("/dashboard/groups?account=brand-a")
    groups = html.split('data-table="groups"')[1].split("</table>")[0]
    assert "孕妈交流群" in groups and "宝妈二群" not in groups


async def test_the_account_menu_lists_every_account_and_keeps_the_chosen_one_and_the_days(
    brands: tuple[BotUnderTest, Dash],
) -> None:
    _, dash = brands
    for page in ["/dashboard/", "/dashboard/groups"]:
        status, _, html = await dash.get(f"{page}?from=2026-11-01&to=2026-11-20&account=brand-b")
        assert status == 200, page
        assert "账号" in html and ">全部账号</option>" in html
        assert account_options(html) == [
            ("", False),
            ("brand-a", False),
            ("brand-b", True),
            ("brand-idle", False),  # configured, no group yet
        ], page
        form = html.split('<form class="range"')[1].split("</form>")[0]
        assert 'name="from" value="2026-11-01"' in form and 'name="to" value="2026-11-20"' in form
        assert 'name="account"' in form  # one form: changing the account keeps the days
        _, _, html = await dash.get(page)
        assert account_options(html)[0] == ("", True), page
        assert not any(chosen for _, chosen in account_options(html)[1:]), page
    _, _, html = await dash.get("/dashboard/channels")  # other pages have no account menu
    assert '<select name="account">' not in html


async def test_an_unknown_account_is_a_clear_400_page(brands: tuple[BotUnderTest, Dash]) -> None:
    _, dash = brands
    for path in [
        "/dashboard/?account=nobody",
        "/dashboard/groups?account=nobody",
        "/dashboard/?account=nobody&format=csv&table=daily",
        "/dashboard/?account=brand-a%20",
    ]:
        status, _, body = await dash.get(path)
        assert status == 400 and "没有这个账号" in body, path


async def test_the_overviews_csv_downloads_follow_its_account(
    brands: tuple[BotUnderTest, Dash],
) -> None:
    bot, dash = brands
    today = local_today(bot)
    joined = {}
    for account in ["brand-b", ""]:
        _, _, html = await dash.get(f"/dashboard/?from={today}&to={today}&account={account}")
        link = re.search(r'class="csv" href="([^"]+table=daily)"', html)
        assert link
        url = unescape(link.group(1))
        assert f"account={account}&" in url and f"from={today}" in url
        status, _, data = await dash.get_bytes(url)
        rows = read_csv(data)
        assert status == 200 and rows[0][4] == "入群"
        joined[account] = sum(int(row[4]) for row in rows[1:])
    assert joined == {"brand-b": 3, "": 5}
    _, _, html = await dash.get("/dashboard/groups?account=brand-a")
    link = re.search(r'class="csv" href="([^"]+table=groups)"', html)
    assert link and "account=brand-a" in link.group(1)
    _, _, data = await dash.get_bytes(unescape(link.group(1)))
    assert [row[1] for row in read_csv(data)[1:]] == ["R1"]


async def test_accounts_recorded_on_groups_are_listed_and_shown_escaped(
    bot: BotUnderTest, ann: Dash
) -> None:
    # No [[accounts]] here: the simulator's account, recorded on the seed's group, and
    # one recorded on a group by an account since removed from config.toml.
    await Room.create(room_id="R9", account_id=EVIL, topic="旧群", updated_at=bot.clock.now())
    status, _, html = await ann.get("/dashboard/")
    assert status == 200
    assert account_options(html) == [("", True), (EVIL, False), ("sim", False)]
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    status, _, html = await ann.get("/dashboard/?account=" + quote(EVIL))
    assert status == 200 and "<script>alert" not in html
    assert account_options(html) == [("", False), (EVIL, True), ("sim", False)]
