"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by
playwright; never a downloaded browser): log in, the overview draws its charts with no
request leaving the machine and no Content-Security-Policy complaint, the figures shown
are the database's, a contact's page shows her, a hostile name runs nothing, and a phone's
width needs no sideways scrolling of the page. Screenshots go to the test's tmp folder
(and to $MAMABOT_SCREENSHOT_DIR when set, to look at them)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest

from handlers.dashboard import users as dashboard_users
from storage import dashboard as store
from storage import metrics
from storage.models import Contact, Interaction
from tests import services
from tests.harness import BotUnderTest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery"
EVIL = "<script>alert(1)</script>"


def need_chromium() -> None:
    reason = ""
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does)"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            reason = "the playwright package is not installed (pip install -e .[dev])"
    if reason:
        if services.services_required():
            pytest.fail(f"MAMABOT_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[BotUnderTest, str]]:
    need_chromium()
    async with BotUnderTest(database_url=f"sqlite://{tmp_path}/browser.sqlite3") as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o"])
        await bot.register_room("R1")
        await bot.join("R1", "b", "小美")
        await bot.join("R1", "c", "小红")
        await bot.join("R1", "x", EVIL)
        await bot.says("b", "宝宝湿疹怎么办", room="R1")
        await bot.says("b", "谢谢大家", room="R1")
        await bot.says("x", f"{EVIL}<img src=x onerror=alert(2)>", room="R1")
        await bot.app.interactions.flush(force=True)
        await Contact.filter(contact_id="b").update(channel="qr1")
        password_hash = dashboard_users.hash_password(PASSWORD)
        assert await store.add_user("ann", password_hash, bot.clock.now())
        port = await bot.app.start_web(port=0)
        yield bot, f"http://127.0.0.1:{port}"


def keep(shot: Path) -> None:
    target = os.environ.get("MAMABOT_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)


async def test_a_manager_logs_in_and_reads_the_overview_and_a_contact(
    site: tuple[BotUnderTest, str], tmp_path: Path
) -> None:
    from playwright.async_api import Request, Route, async_playwright

    bot, base = site
    problems: list[str] = []
    offsite: list[str] = []

    async def only_loopback(route: Route, request: Request) -> None:
        if urlparse(request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:  # an intranet install has no internet: nothing may be fetched from it
            offsite.append(request.url)
            await route.abort()

    def console(message: Any) -> None:
        if message.type == "error":
            problems.append(message.text)

    async def dialog(d: Any) -> None:
        problems.append(f"a dialog opened: {d.message}")
        await d.dismiss()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            await context.route("**/*", only_loopback)
            page = await context.new_page()
            page.on("console", console)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on("dialog", dialog)

            await page.goto(f"{base}/dashboard/")
            assert "/dashboard/login" in page.url  # no page without a login
            await page.fill("input[name=name]", "ann")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{base}/dashboard/")

            # The charts are drawn: plotly's SVG in each chart box.
            await page.wait_for_selector("#chart-friends svg.main-svg", timeout=15_000)
            charts = await page.locator(".chart").count()
            drawn = await page.locator(".chart svg.main-svg").count()
            assert charts >= 4 and drawn >= charts
            shot = tmp_path / "dashboard-overview.png"
            await page.screenshot(path=str(shot), full_page=True)
            keep(shot)
            assert shot.stat().st_size > 10_000

            # The figures shown are the database's.
            tz = ZoneInfo(bot.app.config.bot.timezone)
            today = bot.clock.now().astimezone(tz).date()
            expected = await metrics.overview(
                today - timedelta(days=29),
                today,
                metrics.Filters(),
                tz,
                bot.clock.now(),
                self_ids=bot.app.self_ids,
            )
            joins = await Interaction.filter(kind="join").count()
            shown_joins = await page.inner_text("[data-metric=joins]")
            assert shown_joins == str(joins) == str(expected["totals"]["joins"]) == "3"
            shown_friends = await page.inner_text("[data-metric=new_friends]")
            assert shown_friends == str(expected["totals"]["new_friends"])
            daily_rows = await page.locator("table[data-table=daily] tbody tr").count()
            assert daily_rows == 30

            # Her page: her name, her messages, newest first.
            await page.goto(f"{base}/dashboard/contacts")
            await page.click("a[href='/dashboard/contacts/b']")
            await page.wait_for_url(f"{base}/dashboard/contacts/b")
            assert await page.inner_text("[data-field=name]") == "小美"
            said = await Interaction.filter(contact_id="b").count()
            rows = page.locator("table[data-table=timeline] tbody tr")
            assert await rows.count() == said
            assert "谢谢大家" in await rows.nth(0).inner_text()
            shot = tmp_path / "dashboard-contact.png"
            await page.screenshot(path=str(shot), full_page=True)
            keep(shot)

            # A hostile name and message are text, and run nothing.
            await page.goto(f"{base}/dashboard/contacts/x")
            assert await page.inner_text("[data-field=name]") == EVIL
            assert "onerror=alert(2)" in await page.inner_text("table[data-table=timeline]")

            # On a phone: the page itself never scrolls sideways (wide tables scroll
            # inside their box).
            phone = await browser.new_context(viewport={"width": 375, "height": 740})
            await phone.add_cookies(await context.cookies())  # type: ignore[arg-type]
            await phone.route("**/*", only_loopback)
            mobile = await phone.new_page()
            mobile.on("console", console)
            await mobile.goto(f"{base}/dashboard/")
            await mobile.wait_for_selector("#chart-friends svg.main-svg", timeout=15_000)
            width = await mobile.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, width
            shot = tmp_path / "dashboard-phone.png"
            await mobile.screenshot(path=str(shot), full_page=True)
            keep(shot)
        finally:
            await browser.close()

    assert offsite == []
    assert problems == [], problems
