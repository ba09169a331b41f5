"""Typed configuration: config.toml (how the bot runs) and content/*.toml (what ops edit).

Each file is validated into pydantic models. An error names the file, the key path and what
was expected, so `mamabot check` and the hot reloader can tell ops exactly what to fix.
Secrets (tokens, database passwords) come from environment variables, never from files.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.ops_regex import OpsPatternError, compile_ops
from bot.selector import RoomSelector
from bot.stages import StageBoundaries


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=Strict)


# --------------------------------------------------------------------------- config.toml


class BotSection(Strict):
    name: str = "小助手"
    timezone: str = "Asia/Shanghai"
    super_admins: list[str] = Field(default_factory=list)
    # On-duty staff (contact ids): a mother's private question no rule answered is sent to
    # them, so the fallback's "顾问会尽快回复" reaches a person.
    staff: list[str] = Field(default_factory=list)
    # A content edit refused at reload is sent to the super admins (at most hourly).
    tell_admins_content_errors: bool = True
    content_dir: str = "content"
    data_dir: str = "data"

    @field_validator("timezone")
    @classmethod
    def _real_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(
                f'{value!r} is not a time zone name: use one such as "Asia/Shanghai"'
            ) from None
        return value


DATABASE_SCHEMES = ("sqlite", "postgres", "postgresql")


def database_scheme_problem(url: str) -> str | None:
    """Why mamabot cannot use this database URL, or None."""
    scheme = url.partition("://")[0] if "://" in url else ""
    if scheme in DATABASE_SCHEMES:
        return None
    return (
        f"unsupported database {scheme + '://' if scheme else repr(url)}: mamabot runs on "
        "sqlite://path/file.sqlite3 or postgres://user@host:5432/name"
    )


class StorageSection(Strict):
    # DATABASE_URL overrides this; {data_dir} is replaced by [bot].data_dir.
    database_url: str = "sqlite://{data_dir}/mamabot.sqlite3"
    interaction_batch_size: int = Field(500, ge=1)
    interaction_flush_seconds: float = Field(2.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _supported(cls, value: str) -> str:
        problem = database_scheme_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class PacingSection(Strict):
    """WeChat restricts accounts that send too fast: stay well below its limits."""

    min_interval_seconds: float = Field(2.0, ge=0)
    jitter_seconds: float = Field(1.0, ge=0)
    max_per_hour: int = Field(300, ge=1)


class OutboxSection(Strict):
    pacing: PacingSection = PacingSection()
    max_attempts: int = Field(6, ge=1)
    retry_base_seconds: float = Field(5.0, gt=0)
    retry_max_seconds: float = Field(600.0, gt=0)
    # How long a claimed send belongs to the instance that claimed it. Past it (the instance
    # died mid-send) another instance settles the row by asking the channel.
    lease_seconds: float = Field(120.0, ge=10)
    # A send whose outcome is unknown (the connection dropped while the gateway had it)
    # waits this long for the gateway's echo of it before it is sent again.
    echo_grace_seconds: float = Field(60.0, ge=1, le=3600)


class WorkSection(Strict):
    """The durable work queue (bot/work.py): reminders, welcome batches, daily jobs."""

    # A claimed item is another instance's to retry once this has passed without an end.
    lease_seconds: float = Field(300.0, ge=10)
    max_attempts: int = Field(5, ge=1)
    retry_base_seconds: float = Field(30.0, gt=0)
    retry_max_seconds: float = Field(3600.0, gt=0)
    # Live mode looks for work other instances scheduled at least this often.
    poll_seconds: float = Field(5.0, gt=0, le=300)
    claim_batch: int = Field(50, ge=1, le=1000)
    # Finished rows are kept this long for ops to read, then deleted by a daily prune.
    keep_done_days: int = Field(7, ge=1)
    keep_failed_days: int = Field(30, ge=1)
    prune_at: str = Field("04:10", pattern=r"^\d{1,2}:\d{2}$")


class AccountSection(Strict):
    id: str
    enabled: bool = True
    kind: Literal["wechaty", "sim"] = "wechaty"
    endpoint: str = ""
    # Name of the environment variable holding the puppet token; the token itself never
    # appears in a file.
    token_env: str = ""
    tls: bool = True
    tls_ca_file: str = ""
    tls_server_name: str = ""
    pacing: PacingSection | None = None

    @model_validator(mode="after")
    def _connectable(self) -> AccountSection:
        if self.kind == "wechaty":
            if not self.endpoint.strip():
                raise ValueError("a wechaty account needs an endpoint (host:port)")
            from bot.channels.wechaty import parse_endpoint

            parse_endpoint(self.endpoint)
            if not self.token_env.strip():
                raise ValueError(
                    "a wechaty account needs token_env: the name of the environment "
                    "variable that holds its puppet token"
                )
        return self


class RoomSection(Strict):
    """Per-room settings, matched by room id or exact topic."""

    match: str
    tags: list[str] = Field(default_factory=list)
    admins: list[str] = Field(default_factory=list)
    managed: bool = True


class AdminSection(Strict):
    """Who may use the # commands beyond the super admins, and where.

    Anyone can add the bot as a friend and pull it into a group of her own, where she is
    the owner: that must give her no power over the brand's groups. So a group's owner
    and its [[rooms]] admins command only the groups listed under [[rooms]] (managed =
    true), and what reaches beyond one group needs a super admin or a contact named here
    for that scope. The guard checks every group the bot is in either way.
    """

    # Let the owner of a group not listed under [[rooms]] command that one group.
    commands_in_unlisted_groups: bool = False
    ban: list[str] = Field(default_factory=list)  # #拉黑 / #解除拉黑: every group
    allow: list[str] = Field(default_factory=list)  # #白名单: the guard passes her everywhere
    vip: list[str] = Field(default_factory=list)  # #标签 with a protected (VIP) tag
    teach: list[str] = Field(default_factory=list)  # #垃圾 / #正常: the model of every group
    ask: list[str] = Field(default_factory=list)  # #问询 someone in none of her groups


class DispatcherSection(Strict):
    dedupe_ttl_seconds: int = Field(86400, ge=60)
    max_text_chars: int = Field(4000, ge=100)


class StageSection(Strict):
    """Stage boundaries (flows/stage.py); the defaults are the usual ones."""

    middle_from_weeks: int = Field(13, ge=1, le=42)  # 孕中期 from this gestational week
    late_from_weeks: int = Field(28, ge=1, le=42)  # 孕晚期 from this week until birth
    infant_from_days: int = Field(28, ge=1, le=365)  # 新生儿期 before, 婴儿期 from
    toddler_from_years: int = Field(1, ge=1, le=18)  # 幼儿期
    preschool_from_years: int = Field(3, ge=1, le=18)  # 学龄前期
    preschool_until_years: int = Field(6, ge=1, le=18)
    # The daily recompute (it also sends the birth questions, so a daytime hour), and the
    # prefix of the stage tags it keeps current.
    recompute_at: str = Field("09:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    tag_prefix: str = "阶段:"
    # Days after the due date before the bot asks once 宝宝出生了吗 (dialog "birth_check").
    ask_birth_after_days: int = Field(7, ge=0, le=60)
    # A stage with no date behind it (备孕期, say) is asked again after this many days.
    stale_after_days: int = Field(90, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> StageSection:
        if self.middle_from_weeks >= self.late_from_weeks:
            raise ValueError("middle_from_weeks must be below late_from_weeks")
        if not self.toddler_from_years < self.preschool_from_years < self.preschool_until_years:
            raise ValueError(
                "toddler_from_years < preschool_from_years < preschool_until_years is required"
            )
        return self

    def boundaries(self) -> StageBoundaries:
        return StageBoundaries(
            **self.model_dump(
                exclude={"recompute_at", "tag_prefix", "ask_birth_after_days", "stale_after_days"}
            )
        )


_CLOCK_TIME = r"^([01]\d|2[0-3]):[0-5]\d$"


class MarketingSection(Strict):
    """Guard rails for every marketing send (nurture steps; posts' own schedules are
    ops' choice). Replies to her own questions never pass through here."""

    # No marketing sends between these times (bot timezone); a step waits for quiet_end.
    quiet_start: str = Field("21:30", pattern=_CLOCK_TIME)
    quiet_end: str = Field("08:30", pattern=_CLOCK_TIME)
    daily_cap: int = Field(2, ge=0)  # marketing messages per contact per calendar day
    weekly_cap: int = Field(6, ge=0)  # ... and in any 7 days (0 = no cap)
    # A scheduled post whose time passed while the bot was down still goes out this long
    # after its time; later, it is skipped (and logged).
    missed_post_grace_minutes: float = Field(60.0, ge=0)


class WebSection(Strict):
    """The bot's HTTP server (tracked links): where it listens, and the address mothers'
    phones reach it by, which tracked links in messages start with."""

    enabled: bool = True
    listen: str = Field("127.0.0.1:8080", pattern=r"^[^\s:]+:\d{1,5}$")
    public_base_url: str = Field("http://127.0.0.1:8080", pattern=r"^https?://\S+$")
    # Reverse proxies whose X-Forwarded-For is believed (addresses or networks): the
    # right-most address in it that is not one of these is the client the dashboard's login
    # limit and the API's limit on bad tokens count.
    trusted_proxies: list[str] = Field(default_factory=list)

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def base(self) -> str:
        return self.public_base_url.rstrip("/")


class CareSection(Strict):
    """What care does after a risk: how long marketing to her pauses, the staff's response
    target and reminders, and a takeover's default length."""

    pause_marketing_hours: float = Field(72.0, ge=0)
    respond_within_minutes: float = Field(15.0, gt=0)  # the response-time target
    remind_every_minutes: float = Field(15.0, gt=0)
    # After max_reminders at that pace, the reminders go on (to the staff and now also the
    # super admins) at this slower pace until someone sends #已处理: a case is never dropped.
    max_reminders: int = Field(8, ge=0)
    remind_slowly_every_minutes: float = Field(60.0, gt=0)
    takeover_hours: float = Field(24.0, gt=0, le=24 * 30)  # #接管 without hours


# The CSV columns `mamabot import-orders` reads, by the field each one fills. Ops set the
# headers their shop or ERP exports; a field whose column is "" (or absent) is not read.
_DEFAULT_ORDER_COLUMNS = {
    "order_id": "订单号",
    "external_id": "外部联系人ID",
    "unionid": "unionid",
    "phone": "手机号",
    "amount": "实付金额",
    "placed_at": "下单时间",
    "status": "订单状态",
    "product": "商品名称",
    "channel": "渠道",
}
ORDER_FIELDS = frozenset(_DEFAULT_ORDER_COLUMNS) | {"contact_id", "currency", "account_id"}


class OrdersSection(Strict):
    """Orders from the shop / ERP: how a CSV export maps onto an order."""

    columns: dict[str, str] = Field(default_factory=lambda: dict(_DEFAULT_ORDER_COLUMNS))
    # Status words in the file, by the status an order is stored with; any other word is a
    # bad row. Matched case-insensitively after trimming.
    paid_statuses: list[str] = Field(
        default_factory=lambda: ["paid", "已付款", "已支付", "已完成", "交易成功", "已发货"]
    )
    refunded_statuses: list[str] = Field(default_factory=lambda: ["refunded", "已退款"])
    cancelled_statuses: list[str] = Field(
        default_factory=lambda: ["cancelled", "canceled", "已取消", "交易关闭"]
    )
    encoding: str = "utf-8-sig"  # Excel's UTF-8 with a BOM reads too; "gbk" for old exports
    delimiter: str = Field(",", min_length=1, max_length=1)  # "\t" for a TSV export
    # A paid order fires the `order` trigger (sequences that thank her, ask for a review)
    # only when it was placed this recently: importing a shop's history starts nothing.
    trigger_within_days: float = Field(7.0, ge=0)

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - ORDER_FIELDS)
        if unknown:
            raise ValueError(
                f"unknown order field(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(ORDER_FIELDS))}"
            )
        if not value.get("order_id"):
            raise ValueError("the order_id column is required")
        return value


class RfmSegment(Strict):
    """A segment: the contacts whose R, F and M quintile scores (1..5, 5 best: most recent,
    most orders, most spent) fall in these ranges. The first segment that matches wins."""

    name: str = Field(min_length=1, max_length=60)
    r: tuple[int, int] = (1, 5)
    f: tuple[int, int] = (1, 5)
    m: tuple[int, int] = (1, 5)

    @field_validator("r", "f", "m")
    @classmethod
    def _range(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high <= 5:
            raise ValueError("a score range is [low, high] with 1 <= low <= high <= 5")
        return value


def _default_segments() -> list[RfmSegment]:
    return [
        RfmSegment(name="高价值", r=(4, 5), f=(4, 5), m=(4, 5)),
        RfmSegment(name="潜力", r=(4, 5), f=(1, 3)),
        RfmSegment(name="流失风险", r=(1, 2), f=(3, 5)),
        RfmSegment(name="待唤醒", r=(1, 3)),
    ]


class RfmSection(Strict):
    """The daily RFM scoring of contacts with orders; each segment is a tag (source rfm)."""

    enabled: bool = True
    run_at: str = Field("03:30", pattern=_CLOCK_TIME)  # daily, bot timezone
    window_days: int = Field(365, ge=1)  # orders older than this are not counted
    tag_prefix: str = "RFM-"  # the segment 高价值 is the tag RFM-高价值
    segments: list[RfmSegment] = Field(default_factory=_default_segments)

    @field_validator("segments")
    @classmethod
    def _unique_names(cls, value: list[RfmSegment]) -> list[RfmSegment]:
        names = [s.name for s in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"segment names must be unique, repeated: {', '.join(dupes)}")
        return value


class DashboardSection(Strict):
    """The managers' dashboard on the web server (/dashboard). Users are added with
    `mamabot users add NAME --password-stdin`."""

    enabled: bool = True
    session_hours: float = Field(12.0, gt=0, le=24 * 30)  # a login expires after this
    # Failed logins allowed per user name and per client address in login_window_minutes.
    login_attempts: int = Field(5, ge=1)
    login_window_minutes: float = Field(15.0, gt=0)
    # Set when the dashboard is reached over HTTPS (the session cookie is then Secure).
    secure_cookies: bool = False


ApiScope = Literal["read", "orders:write"]


class ApiToken(Strict):
    """A bearer token for the open HTTP API (/api). The token itself is read from the
    environment variable `token_env`; a token whose variable is unset or empty is off."""

    name: str = Field(min_length=1, max_length=64)
    token_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    scopes: list[ApiScope] = Field(default_factory=lambda: list[ApiScope](["read"]))
    requests_per_minute: int = Field(120, ge=1)

    def token(self) -> str | None:
        value = os.environ.get(self.token_env, "").strip()
        return value or None


class AppConfig(Strict):
    bot: BotSection = BotSection()
    storage: StorageSection = StorageSection()
    outbox: OutboxSection = OutboxSection()
    work: WorkSection = WorkSection()
    dispatcher: DispatcherSection = DispatcherSection()
    admin: AdminSection = AdminSection()
    stage: StageSection = StageSection()
    marketing: MarketingSection = MarketingSection()
    web: WebSection = WebSection()
    care: CareSection = CareSection()
    orders: OrdersSection = OrdersSection()
    rfm: RfmSection = RfmSection()
    dashboard: DashboardSection = DashboardSection()
    api_tokens: list[ApiToken] = Field(default_factory=list)
    accounts: list[AccountSection] = Field(default_factory=list)
    rooms: list[RoomSection] = Field(default_factory=list)

    @field_validator("accounts")
    @classmethod
    def _unique_accounts(cls, value: list[AccountSection]) -> list[AccountSection]:
        ids = [a.id for a in value]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"account ids must be unique, repeated: {', '.join(dupes)}")
        return value

    @field_validator("api_tokens")
    @classmethod
    def _unique_tokens(cls, value: list[ApiToken]) -> list[ApiToken]:
        names = [t.name for t in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"api token names must be unique, repeated: {', '.join(dupes)}")
        return value

    def room_settings(self, room_id: str, topic: str = "") -> RoomSection | None:
        for room in self.rooms:
            if RoomSelector([room.match]).selects(room_id, topic):
                return room
        return None

    def commands_allowed(self, room_id: str, topic: str = "") -> bool:
        """Whether a group's own owner and admins may command it: a group listed under
        [[rooms]] and managed, or any group when [admin] commands_in_unlisted_groups."""
        settings = self.room_settings(room_id, topic)
        if settings is not None:
            return settings.managed
        return self.admin.commands_in_unlisted_groups


# --------------------------------------------------------------------------- content/*.toml


class WelcomeOverride(Strict):
    rooms: list[str]  # room ids or topics
    template: str


class ChannelCode(Strict):
    """A 活码 / acquisition channel: recognised from the friend-request hello text, a WeCom
    contact-way state, or the group she joins."""

    name: str
    hello_contains: list[str] = Field(default_factory=list)
    states: list[str] = Field(default_factory=list)
    rooms: list[str] = Field(default_factory=list)  # group ids or exact group names
    tags: list[str] = Field(default_factory=list)
    greeting: str = ""

    @model_validator(mode="after")
    def _has_a_matcher(self) -> ChannelCode:
        if not self.hello_contains and not self.states and not self.rooms:
            raise ValueError("a channel code needs hello_contains, states or rooms")
        return self


class WelcomeContent(Strict):
    group_enabled: bool = True
    group_template: str = "欢迎 {names} 加入{room}！"
    group_rules: str = ""
    batch_window_seconds: float = Field(30.0, ge=0)
    # A join wave: the first max_names are @mentioned, the rest counted in more_names.
    max_names: int = Field(20, ge=1, le=100)
    more_names: str = "等{count}位新朋友"
    overrides: list[WelcomeOverride] = Field(default_factory=list)
    accept_friends: bool = True
    friend_greeting: str = "你好呀，我是{bot}～"

    @field_validator("group_template", "friend_greeting")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        return check_placeholders(value, {"names", "room", "rules", "bot", "name"})

    @field_validator("more_names")
    @classmethod
    def _count_placeholder(cls, value: str) -> str:
        return check_placeholders(value, {"count"})


class FallbackContent(Strict):
    """What a mother hears in a DM when nothing else answered her."""

    enabled: bool = True
    dm_reply: str = "收到啦～这个问题我先记下，顾问看到后会尽快回复你🌷"
    cooldown_seconds: float = Field(43200.0, ge=0)

    @field_validator("dm_reply")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        return check_placeholders(value, {"name", "bot"})


class ChannelsContent(Strict):
    codes: list[ChannelCode] = Field(default_factory=list)


class KeywordRule(Strict):
    id: str
    mode: Literal["exact", "contains", "word", "regex"] = "contains"
    keywords: list[str] = Field(default_factory=list)
    # contains/word mode: "any" matches one keyword, "all" needs every keyword.
    require: Literal["any", "all"] = "any"
    pattern: str = ""
    scope: Literal["all", "dm", "groups"] = "all"
    rooms: list[str] = Field(default_factory=list)  # room ids or topics; empty = every room
    room_tags: list[str] = Field(default_factory=list)
    replies: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    cooldown_seconds: float = Field(60.0, ge=0)
    # Limits on the message itself, for keywords that also turn up in chatter (a long
    # birth story that mentions 待产室 is no request for the 待产包 list). A message that
    # fails them does not match the rule at all: no answer, no tags.
    max_chars: int | None = Field(None, ge=1)
    questions_only: bool = False
    priority: int = 0
    enabled: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> KeywordRule:
        if self.mode == "regex":
            if not self.pattern:
                raise ValueError("mode 'regex' needs a non-empty 'pattern'")
            try:
                compile_ops(self.pattern)
            except OpsPatternError as exc:
                what = f"pattern {exc.verdict} (rule '{self.id}')"
                raise ValueError(f"{what}: {exc.advice}") from None
        elif not any(k.strip() for k in self.keywords):
            raise ValueError(f"mode '{self.mode}' needs at least one non-empty keyword")
        if not self.replies and not self.tags:
            raise ValueError("a rule needs at least one reply or one tag")
        for reply in self.replies:
            if not reply.strip():
                raise ValueError("a reply must not be empty")
            check_placeholders(reply, {"name", "bot"})
        self._keywords_fit()
        return self

    def _keywords_fit(self) -> None:
        """A max_chars below the keywords' own length would silence the rule for good."""
        if self.max_chars is None or self.mode == "regex":
            return
        keys = [k.strip() for k in self.keywords if k.strip()]
        too_long = [k for k in keys if len(k) > self.max_chars]
        if too_long and (self.require == "all" or len(too_long) == len(keys)):
            raise ValueError(
                f"max_chars = {self.max_chars} is shorter than the keyword '{too_long[0]}', "
                "so the rule could never answer: raise max_chars or remove it"
            )


class KeywordsContent(Strict):
    # What a repeat gets while a rule cools down in a chat: once per asker, then silence.
    repeat_reply: str = "上面刚回复过哦👆"
    rules: list[KeywordRule] = Field(default_factory=list)

    @field_validator("repeat_reply")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        return check_placeholders(value, {"name", "bot"})

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, value: list[KeywordRule]) -> list[KeywordRule]:
        seen: set[str] = set()
        for rule in value:
            if rule.id in seen:
                raise ValueError(f"rule id '{rule.id}' is used twice")
            seen.add(rule.id)
        return value


_PLACEHOLDER = re.compile(r"\{(\w*)\}")


def check_placeholders(template: str, allowed: set[str]) -> str:
    unknown = sorted({m for m in _PLACEHOLDER.findall(template) if m not in allowed})
    if unknown:
        raise ValueError(
            f"unknown placeholder {{{unknown[0]}}}; allowed: "
            + ", ".join("{" + a + "}" for a in sorted(allowed))
        )
    return template


class DialogStep(Strict):
    """One question of a dialog."""

    id: str
    prompts: list[str] = Field(min_length=1)  # variants, one picked at random
    parser: Literal["stage_date", "city", "choice", "yes_no", "number", "text"]
    hint: str = ""  # said with the question again after an answer it could not read
    expect: Literal["due", "birth"] | None = None  # stage_date: what the question asks
    choices: dict[str, list[str]] = Field(default_factory=dict)  # value -> words for it
    min: float | None = None  # number
    max: float | None = None
    field: str = ""  # where the answer goes: stage, city, family, or any custom name
    tags: list[str] = Field(default_factory=list)  # {value} is the answer
    skip_if_known: bool = True  # not asked when her profile already has the field

    @model_validator(mode="after")
    def _consistent(self) -> DialogStep:
        if self.parser == "choice" and not self.choices:
            raise ValueError("parser 'choice' needs choices")
        for prompt in self.prompts:
            check_placeholders(prompt, {"name", "bot"})
        for tag in self.tags:
            check_placeholders(tag, {"value"})
        return self


class DialogSpec(Strict):
    id: str
    flow: str = "intake"  # one active dialog per contact and flow
    trigger: Literal["friend", "keyword", "admin", "manual"] = "manual"
    keywords: list[str] = Field(default_factory=list)  # trigger = "keyword": exact words
    intro: str = ""
    steps: list[DialogStep] = Field(min_length=1)
    max_tries: int = Field(2, ge=1, le=5)  # after this many unreadable answers: move on
    reminder_after_seconds: float = Field(86400.0, gt=0)
    reminder: str = ""  # "" sends no reminder
    close_after_seconds: float = Field(86400.0, gt=0)  # after the reminder
    done: str = ""
    cancelled: str = ""

    @model_validator(mode="after")
    def _unique_steps(self) -> DialogSpec:
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError("step ids must be unique")
        for text in (self.intro, self.reminder, self.done, self.cancelled):
            check_placeholders(text, {"name", "bot"})
        return self


class DialogsContent(Strict):
    skip_words: list[str] = Field(default_factory=lambda: ["跳过", "下一个", "不想说", "skip"])
    cancel_words: list[str] = Field(
        default_factory=lambda: ["取消", "不用了", "算了", "别问了", "cancel"]
    )
    dialogs: list[DialogSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_friend_intake(self) -> DialogsContent:
        ids = [d.id for d in self.dialogs]
        if len(set(ids)) != len(ids):
            raise ValueError("dialog ids must be unique")
        if sum(1 for d in self.dialogs if d.trigger == "friend") > 1:
            raise ValueError("only one dialog can start when a friend is added")
        return self

    def get(self, dialog_id: str) -> DialogSpec | None:
        return next((d for d in self.dialogs if d.id == dialog_id), None)


TypePolicy = Literal["allow", "warn", "kick"]


def _default_type_policies() -> dict[str, TypePolicy]:
    return {"mini_program": "warn", "card": "warn", "link": "allow", "qr_image": "warn"}


# Message types a group policy can name: every non-text type, and an image that holds a
# QR code (a personal or group WeChat code, a shop link).
POLICY_TYPES = ("mini_program", "card", "link", "qr_image", "image", "file", "video", "voice")


MARKETPLACES = ("jd.com", "3.cn", "jd.hk", "taobao.com", "tb.cn", "tmall.com", "tmall.hk")


class GuardRules(Strict):
    """The guard's checks; `[guard]` sets the defaults, `[[guard.rooms]]` tunes one group."""

    enabled: bool = True
    warn_at: float = Field(0.6, ge=0, le=1)  # score from which a message is warned
    kick_at: float = Field(0.9, ge=0, le=1)  # ... and kicked at once
    links: bool = True
    allowed_domains: list[str] = Field(default_factory=list)  # the brand's own shop, etc.
    # Big marketplaces whose product links members share with their own recommendation:
    # not an external link by themselves, unread by the model, but counted with a
    # contact, a pitch or recruitment. Not pinduoduo: its 砍一刀 links come from strangers.
    marketplace_domains: list[str] = Field(default_factory=lambda: list(MARKETPLACES))
    contacts: bool = True  # WeChat / QQ / phone solicitation
    blocked_words: dict[str, float] = Field(default_factory=dict)  # word -> score
    classifier: bool = True
    # Message types from non-admins: allow | warn | kick.
    types: dict[str, TypePolicy] = Field(default_factory=_default_type_policies)
    flood: bool = True  # the history checks, each switchable per group
    repeats: bool = True
    waves: bool = True
    flood_messages: int = Field(8, ge=2)  # this many messages ...
    flood_seconds: float = Field(20.0, gt=0)  # ... within this time is a flood
    repeat_times: int = Field(3, ge=2)  # the same text this many times ...
    repeat_seconds: float = Field(600.0, gt=0)  # ... within this time
    wave_rooms: int = Field(3, ge=2)  # the same text in this many groups ...
    wave_seconds: float = Field(1800.0, gt=0)  # ... within this time
    newcomer_messages: int = Field(3, ge=0)  # her first messages after joining ...
    newcomer_bonus: float = Field(0.15, ge=0, le=1)  # ... weigh this much more
    # A member present this many days or with this many messages in the group is warned
    # before any kick, unless the text is an unmistakable commercial ad (0 = off).
    established_days: float = Field(7.0, ge=0)
    established_messages: int = Field(20, ge=0)
    # Members asking each other to add them, with no commercial sign: allow (never acted
    # on), or remind (one gentle, non-counting reminder a day, for groups that forbid it).
    member_contact: Literal["allow", "remind"] = "allow"
    warnings_before_kick: int = Field(3, ge=1)  # the Nth warning is a kick
    warning_memory_days: float = Field(30.0, gt=0)  # warnings older than this are forgotten
    protected_tags: list[str] = Field(default_factory=lambda: ["VIP"])
    notify_admins: bool = True  # a short DM to the owner and admins about each action

    @field_validator("types")
    @classmethod
    def _known_types(cls, types: dict[str, TypePolicy]) -> dict[str, TypePolicy]:
        unknown = sorted(set(types) - set(POLICY_TYPES))
        if unknown:
            raise ValueError(
                f"unknown message type {unknown[0]!r}; one of {', '.join(POLICY_TYPES)}"
            )
        return {**_default_type_policies(), **types}

    @model_validator(mode="after")
    def _ordered(self) -> GuardRules:
        if self.warn_at > self.kick_at:
            raise ValueError("warn_at must not be above kick_at")
        return self


class GuardRoom(GuardRules):
    match: str  # room id or exact group name


class GuardContent(Strict):
    guard: GuardRules = GuardRules()
    rooms: list[GuardRoom] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _rooms_inherit(cls, data: Any) -> Any:
        """A [[rooms]] block changes only what it names: the rest comes from [guard].
        `types` and `blocked_words` are merged key by key (a word set to 0 is off there)."""
        if not isinstance(data, dict) or not isinstance(data.get("rooms"), list):
            return data
        guard = data.get("guard")
        base: dict[str, Any] = guard if isinstance(guard, dict) else {}
        rooms = []
        for room in data["rooms"]:
            if isinstance(room, dict):
                merged = {**base, **room}
                for key in ("types", "blocked_words"):
                    if isinstance(base.get(key), dict) and isinstance(room.get(key), dict):
                        merged[key] = {**base[key], **room[key]}
                room = merged
            rooms.append(room)
        return {**data, "rooms": rooms}

    def for_room(self, room_id: str | None, topic: str = "") -> GuardRules:
        for room in self.rooms:
            if RoomSelector([room.match]).selects(room_id or "", topic):
                return room
        return self.guard


# --------------------------------------------------------------------------- automation

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
_LINK_REF = re.compile(r"\{link:([^{}]*)\}")
_DELAY = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*$")
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)\s*-\s*([01]\d|2[0-4]):([0-5]\d)$")


def parse_delay(text: str) -> int:
    """ "1d", "3h", "30m", "1d12h" -> seconds. ValueError for anything else."""
    match = _DELAY.match(text or "")
    if not match or not text.strip():
        raise ValueError(f"a delay is like 30m, 3h, 1d or 1d12h, not {text!r}")
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60


def parse_window(text: str) -> tuple[int, int]:
    """ "09:00-21:00" -> (start, end) in minutes of the day. ValueError otherwise."""
    match = _WINDOW.match((text or "").strip())
    if not match:
        raise ValueError(f"a send window is like 09:00-21:00, not {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end > 24 * 60 or start == end:
        raise ValueError(f"a send window must start and end at different times: {text!r}")
    return start, end


def _send_window(value: str) -> str:
    if value:
        parse_window(value)
    return value


SendWindow = Annotated[str, AfterValidator(_send_window)]


class LinkSpec(Strict):
    """A tracked link in a message: `{link:ID}` in the text is replaced by its address
    (a link the text does not name is put on a line of its own at the end)."""

    id: str = Field(pattern=_ID)
    url: str = Field(pattern=r"^https?://\S+$")
    tags: list[str] = Field(default_factory=list)  # added to her when she clicks


def check_message(text: str, links: list[LinkSpec], allowed: set[str]) -> None:
    ids = [link.id for link in links]
    if len(set(ids)) != len(ids):
        raise ValueError("link ids must be unique within a message")
    for ref in _LINK_REF.findall(text):
        if ref not in ids:
            raise ValueError(f"{{link:{ref}}} names no link of this message")
    check_placeholders(_LINK_REF.sub("", text), allowed)


class PostSpec(Strict):
    """A scheduled group post (content/posts.toml)."""

    id: str = Field(pattern=_ID)
    enabled: bool = True
    schedule: str  # crontab "0 8 * * *" (standard day numbers) or a daily "08:00"
    # Target groups, the one room selector: named (id or exact group name) and/or tagged
    # ([[rooms]] tags in config.toml). Neither: every managed group.
    rooms: list[str] = Field(default_factory=list)
    room_tags: list[str] = Field(default_factory=list)
    text: str = ""
    variants: list[str] = Field(default_factory=list)  # sent in turn, never twice in a row
    links: list[LinkSpec] = Field(default_factory=list)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        from bot.cron import CronSchedule

        try:
            CronSchedule(value, ZoneInfo("UTC"))
        except (ValueError, KeyError, IndexError) as exc:
            raise ValueError(f"not a cron schedule or HH:MM: {value!r} ({exc})") from None
        return value

    @model_validator(mode="after")
    def _has_text(self) -> PostSpec:
        if bool(self.text.strip()) == bool(self.variants):
            raise ValueError("a post has either `text` or `variants` (two or more), not both")
        if self.variants and len(self.variants) < 2:
            raise ValueError("`variants` rotate: give two or more, or use `text`")
        for text in [self.text, *self.variants]:
            check_message(text, self.links, {"bot", "room"})
        return self

    @property
    def texts(self) -> list[str]:
        return list(self.variants) if self.variants else [self.text]

    @property
    def selector(self) -> RoomSelector:
        return RoomSelector(self.rooms, self.room_tags)


class PostsContent(Strict):
    posts: list[PostSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> PostsContent:
        ids = [p.id for p in self.posts]
        if len(set(ids)) != len(ids):
            raise ValueError("post ids must be unique")
        return self

    def get(self, post_id: str) -> PostSpec | None:
        return next((p for p in self.posts if p.id == post_id), None)


TriggerKind = Literal["stage", "tag", "channel", "keyword", "link", "order"]


class TriggerSpec(Strict):
    """What enrols her: `on` a stage entered, a tag added, a channel code she came by, a
    keyword rule that answered her, a tracked link she clicked, an order she placed;
    `value` names which (a stage, a tag, a code's name, a rule id, a link id; for orders
    "" means any order)."""

    on: TriggerKind
    value: str = ""

    @model_validator(mode="after")
    def _value(self) -> TriggerSpec:
        if self.on != "order" and not self.value.strip():
            raise ValueError(f"a trigger on {self.on!r} needs a value")
        return self


class StepSpec(Strict):
    """One step of a sequence: when, on what condition, and what it does."""

    id: str = Field(pattern=_ID)
    delay: str = "0m"  # after enrolment (or after the previous step): 30m, 3h, 1d ...
    after: Literal["enrolment", "previous"] = "enrolment"
    window: SendWindow = ""  # overrides the sequence's send window for this step
    # Conditions, checked when the step is due; a step whose conditions fail is skipped.
    if_tags: list[str] = Field(default_factory=list)  # she has all of these
    unless_tags: list[str] = Field(default_factory=list)  # she has none of these
    stages: list[str] = Field(default_factory=list)  # her stage is one of these
    # Actions, in this order.
    text: str = ""
    links: list[LinkSpec] = Field(default_factory=list)
    add_tags: list[str] = Field(default_factory=list)
    remove_tags: list[str] = Field(default_factory=list)
    invite: str = ""  # a group (id or exact name) to invite her to
    dialog: str = ""  # a dialog (dialogs.toml id) to start with her

    @field_validator("delay")
    @classmethod
    def _delay(cls, value: str) -> str:
        parse_delay(value)
        return value

    @model_validator(mode="after")
    def _valid(self) -> StepSpec:
        check_message(self.text, self.links, {"name", "bot"})
        if self.links and not self.text.strip():
            raise ValueError("links go out in a text: give the step a `text`")
        acts = (self.text, self.add_tags, self.remove_tags, self.invite, self.dialog)
        if not any(acts):
            raise ValueError("a step does something: text, add_tags, remove_tags, invite or dialog")
        return self

    @property
    def delay_seconds(self) -> int:
        return parse_delay(self.delay)


class SequenceSpec(Strict):
    """A nurture sequence (content/sequences.toml)."""

    id: str = Field(pattern=_ID)
    name: str = ""
    enabled: bool = True
    triggers: list[TriggerSpec] = Field(min_length=1)
    # Her stage must be one of these while she is in it: a stage change that leaves them
    # ends her enrolment. Empty: any stage.
    stages: list[str] = Field(default_factory=list)
    exit_tags: list[str] = Field(default_factory=list)  # a tag like 已购买 ends it
    window: SendWindow = ""  # like 09:00-21:00; "" = only the quiet hours apply
    steps: list[StepSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _valid(self) -> SequenceSpec:
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError("step ids must be unique within a sequence")
        return self


class SequencesContent(Strict):
    sequences: list[SequenceSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> SequencesContent:
        ids = [s.id for s in self.sequences]
        if len(set(ids)) != len(ids):
            raise ValueError("sequence ids must be unique")
        links = [link.id for s in self.sequences for step in s.steps for link in step.links]
        dupes = sorted({x for x in links if links.count(x) > 1})
        if dupes:
            raise ValueError(f"link id {dupes[0]!r} is used in two steps: link ids are unique")
        return self

    def get(self, sequence_id: str) -> SequenceSpec | None:
        return next((s for s in self.sequences if s.id == sequence_id), None)


# --------------------------------------------------------------------------- care

CareSeverity = Literal["urgent", "crisis", "concern", "loss"]


class CareAnswers(Strict):
    """What she is told, by severity: in a private chat, and (short, with an @) in a group."""

    dm: str
    group: str


def _answers(dm: str, group: str) -> CareAnswers:
    return CareAnswers(dm=dm, group=group)


class CareContent(Strict):
    """content/care.toml: the answers, the hotline, and ops' own phrases."""

    enabled: bool = True
    hotline: str = "12356（全国心理援助热线，24小时）"
    urgent: CareAnswers = _answers(
        "看到你说的情况，这可能需要马上看医生。请立即去最近的医院急诊，情况紧急请直接拨打120。"
        "我们的顾问也会马上联系你。",
        "这个情况请马上去医院急诊，紧急请拨打120🙏 顾问会私聊联系你。",
    )
    crisis: CareAnswers = _answers(
        "抱抱你，听起来你现在真的很难受。你不是一个人，请现在就拨打{hotline}，"
        "那里有专业的人可以陪你聊。我们的顾问也会尽快联系你。如果有危险，请马上拨打120或110。",
        "抱抱你🤍 我们的顾问会马上私聊你。需要的话现在就可以拨打{hotline}。",
    )
    concern: CareAnswers = _answers(
        "收到，这个情况顾问会尽快看一下并联系你。如果情况加重，请及时去医院。",
        "收到～顾问会私聊关心一下。如果情况加重，请及时就医哦。",
    )
    loss: CareAnswers = _answers(
        "抱抱你，真的很遗憾。请好好照顾自己的身体，有任何需要随时找我们，顾问也会联系你。",
        "抱抱你🤍 顾问会私聊联系你。",
    )
    # Ops' own phrases, folded like messages are; each is that severity when it appears.
    words: dict[CareSeverity, list[str]] = Field(default_factory=dict)
    # Phrases that are never a risk (a product name holding a risk word).
    ignore: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _placeholders(self) -> CareContent:
        for answers in (self.urgent, self.crisis, self.concern, self.loss):
            for text in (answers.dm, answers.group):
                check_placeholders(text, {"name", "bot", "hotline"})
        return self


# Every content file, its model, and whether it must exist.
CONTENT_FILES: dict[str, type[Strict]] = {
    "welcome.toml": WelcomeContent,
    "channels.toml": ChannelsContent,
    "keywords.toml": KeywordsContent,
    "fallback.toml": FallbackContent,
    "dialogs.toml": DialogsContent,
    "guard.toml": GuardContent,
    "posts.toml": PostsContent,
    "sequences.toml": SequencesContent,
    "care.toml": CareContent,
}


@dataclass(frozen=True)
class Content:
    welcome: WelcomeContent
    channels: ChannelsContent
    keywords: KeywordsContent
    fallback: FallbackContent
    dialogs: DialogsContent = field(default_factory=DialogsContent)
    guard: GuardContent = field(default_factory=GuardContent)
    posts: PostsContent = field(default_factory=PostsContent)
    sequences: SequencesContent = field(default_factory=SequencesContent)
    care: CareContent = field(default_factory=CareContent)


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"


class ConfigError(Exception):
    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _issues_from_validation(file: str, exc: ValidationError) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p not in ("function-after",))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        else:
            msg = msg.removeprefix("Value error, ")
            got = err.get("input")
            if err["type"].endswith("_type") or err["type"].endswith("_parsing"):
                msg = f"{msg}, got {got!r}"
        issues.append(ConfigIssue(file, _format_loc(loc), msg))
    return issues


def load_model(path: Path, model: type[M], *, required: bool = True) -> M:
    """Read one TOML file into `model`, or raise ConfigError naming file and key."""
    name = str(path)
    if not path.exists():
        if required:
            raise ConfigError([ConfigIssue(name, "", "file not found")])
        return model()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError([ConfigIssue(name, "", "file is not UTF-8 text")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigIssue(name, "", f"TOML syntax error: {exc}")]) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_issues_from_validation(name, exc)) from None


def load_config(path: Path) -> AppConfig:
    return load_model(path, AppConfig, required=False)


def load_content(content_dir: Path) -> Content:
    """Load every content file; collect every issue before raising."""
    issues: list[ConfigIssue] = []
    loaded: dict[str, Strict] = {}
    for filename, model in CONTENT_FILES.items():
        try:
            loaded[filename] = load_model(content_dir / filename, model, required=False)
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ConfigError(issues)
    return Content(
        welcome=loaded["welcome.toml"],  # type: ignore[arg-type]
        channels=loaded["channels.toml"],  # type: ignore[arg-type]
        keywords=loaded["keywords.toml"],  # type: ignore[arg-type]
        fallback=loaded["fallback.toml"],  # type: ignore[arg-type]
        dialogs=loaded["dialogs.toml"],  # type: ignore[arg-type]
        guard=loaded["guard.toml"],  # type: ignore[arg-type]
        posts=loaded["posts.toml"],  # type: ignore[arg-type]
        sequences=loaded["sequences.toml"],  # type: ignore[arg-type]
        care=loaded["care.toml"],  # type: ignore[arg-type]
    )


# The environment variables that point a running bot at its database and key-value store.
DATABASE_URL_ENV = "DATABASE_URL"
REDIS_URL_ENV = "REDIS_URL"


def database_url(config: AppConfig, base_dir: Path) -> str:
    url = os.environ.get(DATABASE_URL_ENV) or config.storage.database_url
    data_dir = base_dir / config.bot.data_dir
    return url.replace("{data_dir}", str(data_dir))


# The simulator's own database: never the one a real account uses (DATABASE_URL, or
# [storage] database_url), so its made-up groups, bans and tags cannot carry over.
SIM_DATABASE_FILE = "sim.sqlite3"


def sim_database_path(config: AppConfig, base_dir: Path) -> Path:
    return base_dir / config.bot.data_dir / SIM_DATABASE_FILE


def redis_url() -> str | None:
    return os.environ.get(REDIS_URL_ENV) or None
