"""The dashboard's pages: overview, groups, channels, RFM segments, contacts and one
contact's 360 view. Every table is also a CSV download (`?format=csv&table=NAME`); a
long list (contacts, RFM members, her timeline, orders and tag history) downloads whole,
streamed a batch at a time, while its page shows one page and says when it shows less.

The figures come from storage.metrics (overview, group and channel pages), the contact
from storage.contact_view (the same view the open API serves), the rest from
storage.dashboard. A page reads; it never changes anything.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.handler import Services
from handlers.dashboard.auth import Auth, Login
from handlers.dashboard.render import Link, Money, Rate, Renderer, Table, csv_download, when
from storage import contact_view, metrics
from storage import dashboard as store

log = logging.getLogger(__name__)

DEFAULT_DAYS = 30
MAX_DAYS = min(366, metrics.MAX_DAYS)  # at most a year: a longer range is a slow page
PAGE_SIZE = 50
YEARS = (2000, 2999)  # the dates a range may name
NO_CHANNEL = "无渠道"  # friends and orders that came without a channel code

TOTALS = [
    ("new_friends", "新增好友"),
    ("dau_avg", "日均活跃"),
    ("mau", "月活跃"),
    ("joins", "入群"),
    ("leaves", "退群"),
    ("kicks", "踢出"),
    ("interaction_rate", "群互动率"),
    ("active", "活跃客户"),
    ("churned", "流失"),
]
FUNNEL = [
    ("added", "加好友"),
    ("profile_complete", "资料完善"),
    ("first_order", "首单"),
    ("repeat_order", "复购"),
]
KINDS = {
    "message": "消息",
    "join": "入群",
    "leave": "退群",
    "friend_request": "加好友",
    "click": "点击链接",
    "order": "下单",
}
TAG_OPS = {"add": "添加", "remove": "移除"}
# Where a tag came from (storage.tags.TAG_SOURCES and rfm); an unknown one shows as stored.
TAG_SOURCES = {
    "channel": "渠道活码",
    "dialog": "对话",
    "keyword": "关键词",
    "admin": "管理员",
    "rule": "规则",
    "stage": "阶段",
    "link": "链接点击",
    "sequence": "培育序列",
    "care": "关怀",
    "rfm": "RFM 分层",
}


class BadRequest(Exception):
    """A query parameter the page cannot use; the text is shown to the manager."""


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date

    @property
    def query(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def date_range(request: web.Request, today: date) -> DateRange:
    """?from=&to= (YYYY-MM-DD, both included); the last 30 days by default."""

    def day(name: str, default: date) -> date:
        raw = request.query.get(name, "").strip()
        if not raw:
            return default
        try:
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
                raise ValueError(raw)
            value = date.fromisoformat(raw)
        except ValueError:
            raise BadRequest("日期格式应为 YYYY-MM-DD，例如 2026-11-01") from None
        if not YEARS[0] <= value.year <= YEARS[1]:
            raise BadRequest(f"日期应在 {YEARS[0]} 年到 {YEARS[1]} 年之间")
        return value

    end = day("to", today)
    start = day("from", end - timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise BadRequest("开始日期不能晚于结束日期")
    if (end - start).days + 1 > MAX_DAYS:
        raise BadRequest(f"日期范围最长 {MAX_DAYS} 天")
    return DateRange(start, end)


def account_choice(request: web.Request, known: Collection[str]) -> str | None:
    """?account=ID: one of the known accounts; absent or empty for all of them."""
    raw = request.query.get("account", "")
    if not raw:
        return None
    if raw not in known:
        raise BadRequest("没有这个账号，请从“账号”列表中选择。")
    return raw


def page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise BadRequest("页码应为正整数")
    return int(raw)


def path_of(*parts: str) -> str:
    """A dashboard path with each part URL-encoded (ids may hold any character)."""
    return "/dashboard/" + "/".join(quote(p, safe="") for p in parts)


def with_query(path: str, **params: Any) -> str:
    """`path` (already URL-encoded: from path_of) with the parameters that are not None."""
    clean = {k: v for k, v in params.items() if v is not None}
    return f"{path}?{urlencode(clean)}" if clean else path


def has_nul(request: web.Request) -> bool:
    """PostgreSQL can neither store nor compare NUL; no id or value of ours holds one."""
    texts = [*request.query.keys(), *request.query.values(), *request.match_info.values()]
    return any("\x00" in text for text in texts)


def channel_cell(code: str | None, span: DateRange) -> Link | str:
    if not code:
        return NO_CHANNEL  # no page of its own: the contacts who came without a code
    return Link(code, with_query(path_of("channels", code), **span.query))


def cut_note(shown: int, total: int) -> str:
    return f"仅显示最近{shown}条，共{total}条" if total > shown else ""


class Pages:
    def __init__(
        self, services: Services, auth: Auth, renderer: Renderer, self_ids: Collection[str]
    ) -> None:
        self.services = services
        # The bot's own accounts: their echoed messages are not mothers' activity. The
        # live set, not a copy: a wechaty account's id joins it when it logs in.
        self.self_ids = self_ids
        self.auth = auth
        self.renderer = renderer
        self.tz = ZoneInfo(services.config.bot.timezone)

    def today(self) -> date:
        return self.services.clock.now().astimezone(self.tz).date()

    # ------------------------------------------------------------ plumbing

    def page(
        self, build: Callable[[web.Request, Login], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """A page behind the login, whose bad parameters are a 400 page and whose
        failures are logged and a 500 page (never a stack trace for the browser)."""

        async def run(request: web.Request, login: Login) -> web.StreamResponse:
            if has_nul(request):
                return self.error(login, 400, "参数不能包含空字符 (NUL)。")
            try:
                return await build(request, login)
            except BadRequest as exc:
                return self.error(login, 400, str(exc))
            except web.HTTPException:
                raise
            except Exception:
                log.exception("dashboard: %s failed", request.path)
                return self.error(login, 500, "数据暂时无法读取，请稍后再试。")

        return self.auth.required(run)

    def error(self, login: Login, status: int, message: str) -> web.Response:
        return self.renderer.page(
            "error.html", status=status, login=login, nav="", title="出错了", message=message
        )

    async def show(
        self,
        request: web.Request,
        login: Login,
        here: str,
        template: str,
        tables: list[Table],
        **ctx: Any,
    ) -> web.StreamResponse:
        """The page at `here` (its own path, from path_of: never request.path, which is
        decoded), or one of its tables as CSV when asked (?format=csv&table=NAME)."""
        if wants_csv(request):
            wanted = request.query.get("table", tables[0].name if tables else "")
            for table in tables:
                if table.name == wanted:
                    return await csv_download(request, table)
            raise BadRequest("没有这个表格")
        base = {k: v for k, v in request.query.items() if k not in ("format", "table")}
        for table in tables:
            table.csv_href = with_query(here, **base, format="csv", table=table.name)
        return self.renderer.page(template, login=login, tables=tables, **ctx)

    # ------------------------------------------------------------ overview, group, channel

    async def accounts(self) -> list[str]:
        """The accounts a page may be filtered by: those configured and those groups are
        recorded under (an account since removed from config.toml keeps its figures)."""
        configured = {a.id for a in self.services.config.accounts}
        return sorted(configured | set(await store.room_accounts()))

    async def _metrics(
        self, request: web.Request, filters: metrics.Filters
    ) -> tuple[DateRange, dict[str, Any]]:
        span = date_range(request, self.today())
        data = await metrics.overview(
            span.start,
            span.end,
            filters,
            self.tz,
            self.services.clock.now(),
            self_ids=self.self_ids,
        )
        return span, data

    async def overview(self, request: web.Request, login: Login) -> web.StreamResponse:
        known = await self.accounts()
        account = account_choice(request, known)
        span, data = await self._metrics(request, metrics.Filters(account_id=account))
        tables = [
            *metric_tables(data),
            channel_table(data, span),
            *conversion_tables(data),
            topic_table(data),
        ]
        return await self.show(
            request,
            login,
            HOME,
            "metrics.html",
            tables,
            nav="overview",
            title="概览",
            span=span,
            totals=totals(data),
            charts=charts(data, with_funnel=True),
            accounts=known,
            account=account or "",
        )

    async def groups(self, request: web.Request, login: Login) -> web.StreamResponse:
        known = await self.accounts()
        account = account_choice(request, known)
        span = date_range(request, self.today())
        rows = await metrics.rooms_summary(
            span.start,
            span.end,
            metrics.Filters(account_id=account),
            self.tz,
            self.services.clock.now(),
            self_ids=self.self_ids,
        )
        table = Table(
            "groups",
            "群列表",
            ["群名", "群 ID", "账号", "成员", "入群", "退群", "踢出", "消息", "发言人数", "互动率"],
            [
                [
                    Link(
                        r["topic"] or r["room_id"],
                        with_query(path_of("groups", r["room_id"]), **span.query),
                    ),
                    r["room_id"],
                    r["account_id"],
                    r["members"],
                    r["joins"],
                    r["leaves"],
                    r["kicks"],
                    r["messages"],
                    r["speakers"],
                    Rate(r["interaction_rate"]),
                ]
                for r in rows
            ],
        )
        return await self.show(
            request,
            login,
            path_of("groups"),
            "list.html",
            [table],
            nav="groups",
            title="群",
            span=span,
            accounts=known,
            account=account or "",
        )

    async def group(self, request: web.Request, login: Login) -> web.StreamResponse:
        room_id = request.match_info["room_id"]
        topic = await store.room_topic(room_id)
        if topic is None:
            return self.error(login, 404, "没有这个群。")
        span, data = await self._metrics(request, metrics.Filters(room_id=room_id))
        tables = [*metric_tables(data), topic_table(data)]
        return await self.show(
            request,
            login,
            path_of("groups", room_id),
            "metrics.html",
            tables,
            nav="groups",
            title=f"群：{topic or room_id}",
            span=span,
            totals=totals(data),
            charts=charts(data, with_funnel=False),
        )

    async def channels(self, request: web.Request, login: Login) -> web.StreamResponse:
        span, data = await self._metrics(request, metrics.Filters())
        table = channel_table(data, span)
        known = {c["channel"] for c in data.get("channels", [])}
        for extra in await store.channel_codes():  # codes with no one new in the range
            if extra["channel"] not in known:
                table.rows.append([channel_cell(extra["channel"], span), 0, 0, 0, 0, Money(0)])
        return await self.show(
            request,
            login,
            path_of("channels"),
            "list.html",
            [table],
            nav="channels",
            title="渠道",
            span=span,
        )

    async def channel(self, request: web.Request, login: Login) -> web.StreamResponse:
        code = request.match_info["code"]
        span, data = await self._metrics(request, metrics.Filters(channel=code))
        tables = [*metric_tables(data), channel_table(data, span)]
        return await self.show(
            request,
            login,
            path_of("channels", code),
            "metrics.html",
            tables,
            nav="channels",
            title=f"渠道：{code}",
            span=span,
            totals=totals(data),
            charts=charts(data, with_funnel=True),
        )

    # ------------------------------------------------------------ RFM

    async def rfm(self, request: web.Request, login: Login) -> web.StreamResponse:
        # Absent: every segment; present but empty: the unsegmented ("未分层").
        segment = request.query.get("segment")
        number = page_number(request)
        summary = await store.rfm_segments()
        members = (
            []
            if wants_csv(request)
            else await store.rfm_members(segment, (number - 1) * PAGE_SIZE, PAGE_SIZE + 1)
        )
        segments = Table(
            "segments",
            "分层汇总",
            ["分层", "人数", "平均距上次下单天数", "平均下单次数", "累计消费(元)"],
            [
                [
                    Link(
                        s["segment"] or UNSEGMENTED,
                        with_query(path_of("rfm"), segment=s["segment"]),
                    ),
                    s["contacts"],
                    s["avg_recency_days"],
                    s["avg_frequency"],
                    Money(s["monetary_cents"]),
                ]
                for s in summary
            ],
        )
        title = "客户（全部分层）" if segment is None else f"客户：{segment or UNSEGMENTED}"

        async def every_member() -> AsyncIterator[Sequence[Any]]:
            async for m in store.all_rfm_members(segment):
                yield member_row(m, m["name"])

        people = Table(
            "members",
            title,
            MEMBER_HEADER,
            [
                member_row(
                    m, Link(m["name"] or m["contact_id"], path_of("contacts", m["contact_id"]))
                )
                for m in members[:PAGE_SIZE]
            ],
            source=every_member,
        )
        chart = {
            "id": "rfm-segments",
            "title": "各分层人数",
            "kind": "bar",
            "x": [s["segment"] or UNSEGMENTED for s in summary],
            "series": [{"name": "人数", "y": [s["contacts"] for s in summary]}],
        }
        return await self.show(
            request,
            login,
            path_of("rfm"),
            "list.html",
            [segments, people],
            nav="rfm",
            title="RFM 分层",
            charts=[chart] if summary else [],
            pager=pages_nav(request, path_of("rfm"), number, len(members) > PAGE_SIZE),
        )

    # ------------------------------------------------------------ contacts

    async def contacts(self, request: web.Request, login: Login) -> web.StreamResponse:
        text = request.query.get("q", "")[:100]
        tag = request.query.get("tag", "")[:128] or None
        number = page_number(request)
        csv = wants_csv(request)
        rows = (
            []
            if csv
            else await store.search_contacts(text, tag, (number - 1) * PAGE_SIZE, PAGE_SIZE + 1)
        )
        tz = self.tz

        def contact_row(r: dict[str, Any], who: Link | str) -> list[Any]:
            return [
                who,
                r["contact_id"],
                r["channel"],
                r["is_friend"],
                when(r["first_seen_at"], tz),
                r["tags"],
            ]

        async def every_contact() -> AsyncIterator[Sequence[Any]]:
            async for r in store.all_contacts(text, tag):
                yield contact_row(r, r["name"])

        table = Table(
            "contacts",
            "客户",
            ["客户", "ID", "渠道", "好友", "首次出现", "标签"],
            [
                contact_row(
                    r, Link(r["name"] or r["contact_id"], path_of("contacts", r["contact_id"]))
                )
                for r in rows[:PAGE_SIZE]
            ],
            source=every_contact,
        )
        return await self.show(
            request,
            login,
            path_of("contacts"),
            "contacts.html",
            [table],
            nav="contacts",
            title="客户",
            q=text,
            tag=tag or "",
            tags=[] if csv else await store.tag_names(),
            pager=pages_nav(request, path_of("contacts"), number, len(rows) > PAGE_SIZE),
        )

    async def contact(self, request: web.Request, login: Login) -> web.StreamResponse:
        contact_id = request.match_info["contact_id"]
        here = path_of("contacts", contact_id)
        view = await contact_view.contact_360(contact_id, tz=self.tz)
        if view is None:
            return self.error(login, 404, "没有这个客户。")
        items: list[dict[str, Any]] = []
        next_cursor = None
        if not wants_csv(request):
            try:
                items, next_cursor = await contact_view.timeline(
                    contact_id,
                    cursor=request.query.get("cursor") or None,
                    limit=PAGE_SIZE,
                    tz=self.tz,
                )
            except contact_view.BadCursor:
                raise BadRequest("翻页参数无效，请从第一页重新打开") from None
        tables = contact_tables(view, items, self.tz)
        by_name = {t.name: t for t in tables}
        by_name["timeline"].source = lambda: self._whole_timeline(contact_id)
        by_name["orders"].source = lambda: whole_orders(contact_id, self.tz)
        by_name["tag_history"].source = lambda: whole_tag_history(contact_id, self.tz)
        by_name["orders"].note = cut_note(len(view.get("orders", [])), view.get("orders_total", 0))
        shown = len(view.get("tag_history", []))
        if shown >= contact_view.MAX_TAG_HISTORY:
            by_name["tag_history"].note = cut_note(shown, await store.tag_event_count(contact_id))
        older = with_query(here, cursor=next_cursor) if next_cursor else ""
        return await self.show(
            request,
            login,
            here,
            "contact.html",
            tables,
            nav="contacts",
            title=f"客户：{view['contact'].get('name') or contact_id}",
            view=view,
            profile=profile_rows(view.get("profile") or {}),
            older=older,
        )

    async def _whole_timeline(self, contact_id: str) -> AsyncIterator[Sequence[Any]]:
        """Her whole timeline for the CSV download, a page of the API's size at a time."""
        cursor: str | None = None
        while True:
            page, cursor = await contact_view.timeline(
                contact_id, cursor=cursor, limit=contact_view.MAX_PAGE, tz=self.tz
            )
            for item in page:
                yield timeline_row(item, self.tz)
            if cursor is None:
                return


async def whole_orders(contact_id: str, tz: ZoneInfo) -> AsyncIterator[Sequence[Any]]:
    async for o in store.all_orders(contact_id):
        yield order_row(o, tz)


async def whole_tag_history(contact_id: str, tz: ZoneInfo) -> AsyncIterator[Sequence[Any]]:
    async for h in store.all_tag_events(contact_id):
        yield tag_event_row(h, tz)


def wants_csv(request: web.Request) -> bool:
    return request.query.get("format") == "csv"


HOME = "/dashboard/"
UNSEGMENTED = "未分层"
MEMBER_HEADER = ["客户", "ID", "分层", "R", "F", "M", "距上次下单天数", "下单次数", "消费(元)"]


def member_row(m: dict[str, Any], who: Link | str) -> list[Any]:
    return [
        who,
        m["contact_id"],
        m["segment"],
        m["r"],
        m["f"],
        m["m"],
        m["recency_days"],
        m["frequency"],
        Money(m["monetary_cents"]),
    ]


# ------------------------------------------------------------------ tables and charts


def totals(data: dict[str, Any]) -> list[dict[str, Any]]:
    figures = data.get("totals", {})
    out = []
    for key, label in TOTALS:
        value = figures.get(key)
        shown = Rate(value) if key == "interaction_rate" and value is not None else value
        out.append({"key": key, "label": label, "value": shown})
    return out


def metric_tables(data: dict[str, Any]) -> list[Table]:
    daily = Table(
        "daily",
        "每日数据",
        [
            "日期",
            "新增好友",
            "日活",
            "月活",
            "入群",
            "退群",
            "踢出",
            "发言人数",
            "群成员",
            "群互动率",
        ],
        [
            [
                d["day"],
                d["new_friends"],
                d["dau"],
                d["mau"],
                d["joins"],
                d["leaves"],
                d["kicks"],
                d["speakers"],
                d["members"],
                Rate(d["interaction_rate"]),
            ]
            for d in data.get("daily", [])
        ],
    )
    funnel = data.get("funnel", {})
    steps = Table(
        "funnel", "转化漏斗", ["环节", "人数"], [[label, funnel.get(k, 0)] for k, label in FUNNEL]
    )
    return [daily, steps]


def channel_table(data: dict[str, Any], span: DateRange) -> Table:
    return Table(
        "channels",
        "渠道表现",
        ["渠道", "新增好友", "资料完善", "首单", "订单数", "销售额(元)"],
        [
            [
                channel_cell(c["channel"], span),
                c["new_friends"],
                c["profile_complete"],
                c["first_order"],
                c["orders"],
                Money(c["revenue_cents"]),
            ]
            for c in data.get("channels", [])
        ],
    )


def conversion_tables(data: dict[str, Any]) -> list[Table]:
    conversion = data.get("conversion", {})
    header = ["来源", "发送", "点击次数", "点击人数", "点击率"]
    return [
        Table(
            name,
            title,
            header,
            [
                [r["source"], r["sent"], r["clicks"], r["clicked"], Rate(r["rate"])]
                for r in conversion.get(name, [])
            ],
        )
        for name, title in (("posts", "群发转化"), ("sequences", "培育序列转化"))
    ]


def topic_table(data: dict[str, Any]) -> Table:
    return Table(
        "topics",
        "本周热词",
        ["词", "权重"],
        [[t["word"], round(float(t["weight"]), 4)] for t in data.get("hot_topics", [])],
    )


def charts(data: dict[str, Any], *, with_funnel: bool) -> list[dict[str, Any]]:
    """What the page's script draws: plain data, the labels set here."""
    daily = data.get("daily", [])
    days = [d["day"] for d in daily]

    def series(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
        return [{"name": label, "y": [d.get(key, 0) for d in daily]} for key, label in pairs]

    drawn: list[dict[str, Any]] = [
        {
            "id": "friends",
            "title": "新增好友",
            "kind": "bar",
            "x": days,
            "dates": True,
            "series": series(("new_friends", "新增好友")),
        },
        {
            "id": "active",
            "title": "日活 / 月活",
            "kind": "line",
            "x": days,
            "dates": True,
            "series": series(("dau", "日活"), ("mau", "月活")),
        },
        {
            "id": "members",
            "title": "入群 / 退群 / 踢出",
            "kind": "bar",
            "x": days,
            "dates": True,
            "series": series(("joins", "入群"), ("leaves", "退群"), ("kicks", "踢出")),
        },
        {
            "id": "rate",
            "title": "群互动率",
            "kind": "line",
            "x": days,
            "dates": True,
            "percent": True,
            "series": series(("interaction_rate", "群互动率")),
        },
    ]
    if with_funnel:
        funnel = data.get("funnel", {})
        drawn.append(
            {
                "id": "funnel",
                "title": "转化漏斗",
                "kind": "bar",
                "x": [label for _, label in FUNNEL],
                "series": [{"name": "人数", "y": [funnel.get(k, 0) for k, _ in FUNNEL]}],
            }
        )
    return drawn


PROFILE_HIDDEN = {"contact_id", "account_id", "updated_at", "extra"}
PROFILE_LABELS = [
    ("stage", "阶段"),
    ("due_date", "预产期"),
    ("birth_date", "宝宝生日"),
    ("city", "城市"),
    ("province", "省份"),
    ("children", "第几胎"),
    ("family", "家庭"),
]


def profile_rows(profile: dict[str, Any]) -> list[tuple[str, Any]]:
    """Her profile as (label, value) lines: the known fields, then her other answers."""
    rows: list[tuple[str, Any]] = [
        (label, profile.get(key)) for key, label in PROFILE_LABELS if profile.get(key) is not None
    ]
    shown = {key for key, _ in PROFILE_LABELS} | PROFILE_HIDDEN
    rest = {k: v for k, v in profile.items() if k not in shown}
    extra = profile.get("extra")
    if isinstance(extra, dict):
        rest.update(extra)
    for key, value in rest.items():
        if value in (None, "", {}, []):
            continue
        if isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False)
        rows.append((str(key), value))
    return rows


def contact_tables(view: dict[str, Any], items: list[dict[str, Any]], tz: ZoneInfo) -> list[Table]:
    return [
        Table(
            "tags",
            "当前标签",
            ["标签", "来源", "说明", "添加时间"],
            [
                [
                    t["name"],
                    TAG_SOURCES.get(t["source"], t["source"]),
                    t["detail"],
                    when(t["added_at"], tz),
                ]
                for t in view.get("tags", [])
            ],
        ),
        Table(
            "tag_history",
            "标签历史",
            ["时间", "标签", "操作", "来源", "说明"],
            [tag_event_row(h, tz) for h in view.get("tag_history", [])],
        ),
        Table(
            "timeline",
            "互动时间线",
            ["时间", "类型", "群", "消息类型", "内容"],
            [timeline_row(i, tz) for i in items],
        ),
        Table(
            "orders",
            "订单",
            ["订单号", "金额(元)", "币种", "状态", "商品", "渠道", "下单时间"],
            [order_row(o, tz) for o in view.get("orders", [])],
        ),
        Table(
            "sequences",
            "培育序列",
            ["序列", "状态", "步骤", "加入时间", "结束时间", "结束原因"],
            [
                [
                    s["sequence_id"],
                    s["status"],
                    s["step"],
                    when(s["enrolled_at"], tz),
                    when(s["ended_at"], tz),
                    s["end_reason"],
                ]
                for s in view.get("sequences", [])
            ],
        ),
        Table(
            "groups",
            "所在群",
            ["群", "入群时间", "退群时间"],
            [
                [
                    Link(g.get("topic") or g["room_id"], path_of("groups", g["room_id"])),
                    when(g["joined_at"], tz),
                    when(g["left_at"], tz),
                ]
                for g in view.get("groups", [])
            ],
        ),
    ]


def tag_event_row(h: dict[str, Any], tz: ZoneInfo) -> list[Any]:
    return [
        when(h["at"], tz),
        h["tag"],
        TAG_OPS.get(h["op"], h["op"]),
        TAG_SOURCES.get(h["source"], h["source"]),
        h["detail"],
    ]


def timeline_row(i: dict[str, Any], tz: ZoneInfo) -> list[Any]:
    room = i.get("room_id")
    return [
        when(i["at"], tz),
        KINDS.get(i["kind"], i["kind"]),
        Link(room, path_of("groups", room)) if room else "私聊",
        i.get("msg_type"),
        i.get("text"),
    ]


def order_row(o: dict[str, Any], tz: ZoneInfo) -> list[Any]:
    return [
        o["order_id"],
        Money(o["amount_cents"]),
        o["currency"],
        o["status"],
        o["product"],
        o["channel"],
        when(o["placed_at"], tz),
    ]


def pages_nav(request: web.Request, here: str, number: int, more: bool) -> dict[str, str]:
    base = {k: v for k, v in request.query.items() if k not in ("page", "format", "table")}
    return {
        "prev": with_query(here, **base, page=number - 1) if number > 1 else "",
        "next": with_query(here, **base, page=number + 1) if more else "",
        "number": str(number),
    }
