"""Assembling and running mamabot. No globals: everything is built here and passed down.

Two ways to run:
- live (`mamabot run` with WeChat accounts): channel consumers feed the dispatcher, the
  work queue's loop runs due work (dialog reminders, welcome batches, the daily stage job),
  the outbox loop sends, the content watcher hot-reloads.
- driven (simulator, replay, tests): nothing runs by itself. `settle()` feeds pending
  simulated events, runs due work and pumps the outbox until the world is quiet, and
  `advance_to()` moves the clock, stopping at every due time on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.channels.base import Channel, ChannelError
from bot.channels.sim import SimChannel, SimWorld
from bot.channels.wechaty import WechatyOptions
from bot.checkup import check_content
from bot.clock import Clock, SystemClock
from bot.config import (
    AppConfig,
    ConfigError,
    ConfigIssue,
    Content,
    PacingSection,
    load_config,
    load_content,
)
from bot.dispatcher import Dispatcher
from bot.events import AccountStatus, Event
from bot.features import Feature, FeatureFactory, Platform, forget_contact
from bot.handler import Services
from bot.links import LinkMaker
from bot.marketing import MarketingGate
from bot.media import Media
from bot.outbox import Outbox
from bot.privacy import mask_id
from bot.rooms import RoomDirectory
from bot.triggers import Trigger, Triggers
from bot.web import WebServer
from bot.work import WorkQueue, instance_id
from flows import features as flows_features
from flows import metrics_job, nurture, orders, posts
from handlers import admin, fallback, keywords, links, privacy, roster, welcome
from handlers.api import feature as api
from handlers.care import feature as care
from handlers.dashboard import feature as dashboard
from handlers.guard import feature as guard
from storage import metrics, people
from storage.db import Database
from storage.dead_letter import database_answers
from storage.interactions import InteractionWriter
from storage.kv import KV
from storage.kv_backend import make_kv
from storage.models import Interaction
from storage.tags import TagChange, TagStore

log = logging.getLogger(__name__)

SIM_ACCOUNT = "sim"


class ContentHolder:
    """The content in force. A reload that fails validation leaves it unchanged."""

    def __init__(self, content_dir: Path, content: Content) -> None:
        self.content_dir = content_dir
        self._current = content
        self.listeners: list[Callable[[list[str]], None]] = []
        # Run after every reload with its problems (empty: the new content is in force).
        self.after_reload: list[Callable[[list[str]], Awaitable[None]]] = []

    @property
    def current(self) -> Content:
        return self._current

    def reload(self) -> list[str]:
        """Load content/ again. Returns the problems (empty when the new content is in force)."""
        try:
            content = load_content(self.content_dir)
        except ConfigError as exc:
            problems = self._described(exc)
            for problem in problems:
                log.error(
                    "content reload refused, the previous content stays in force: %s", problem
                )
            for listener in self.listeners:
                listener(problems)
            return problems
        self._current = content
        log.info("content reloaded from %s", self.content_dir)
        return []

    def _described(self, exc: ConfigError) -> list[str]:
        """The refused edit's problems as `mamabot check` words them (file, line, rule id,
        a fix in plain words), each file named without its folder; loading's own words
        when the check finds nothing (it should not)."""
        try:
            found = [f for f in check_content(self.content_dir) if f.level == "error"]
        except Exception:
            log.exception("content check failed while describing a refused edit")
            found = []
        if not found:
            return [str(issue) for issue in exc.issues]
        described = []
        for finding in found:
            where = Path(finding.file).name + (f":{finding.line}" if finding.line else "")
            what = f" {finding.what}:" if finding.what else ""
            described.append(f"{where}:{what} {finding.message}")
        return described

    async def reload_and_tell(self) -> list[str]:
        """reload(), then the after-reload hooks: the guard model is retrained when its
        corpus changed, and a refused edit is sent to the super admins."""
        problems = self.reload()
        for hook in self.after_reload:
            try:
                await hook(problems)
            except Exception:
                log.exception("after-reload hook failed")
        return problems


@dataclass
class AppSettings:
    base_dir: Path = field(default_factory=Path.cwd)
    config_path: Path | None = None
    content_dir: Path | None = None
    database_url: str | None = None
    redis_url: str | None = None
    kv_prefix: str = "mamabot:"
    clock: Clock | None = None
    seed: int | None = None
    pace_sim: bool = False
    wechaty_options: WechatyOptions | None = None
    # Ops commands that only touch storage (mamabot forget): no WeChat connection is made
    # and no account token is needed.
    offline: bool = False
    # The features in chain order (default: FEATURES).
    features: dict[str, FeatureFactory] | None = None


# The features, in chain order: bookkeeping, the group guard, care (urgent health words),
# admin commands, privacy words (退订, 删除我的信息), welcome, dialogs, keyword replies,
# fallback, then the stage job, nurture, posts and tracked links (no message handlers).
# Dialogs come before keywords so an answer to her current question is read as an answer;
# they hand real questions to the keyword handler. Adding a feature is a module with a
# `feature(platform)` function and one line here.
FEATURES: dict[str, FeatureFactory] = {
    "roster": roster.feature,
    "guard": guard.feature,
    # Before the commands: a mother's urgent message is answered by care whatever it
    # starts with, and staff's #已处理 / #接管 / #交还 are care's.
    "care": care.feature,
    "admin": admin.feature,
    "privacy": privacy.feature,
    "welcome": welcome.feature,
    "dialogs": flows_features.dialogs,
    "keywords": keywords.feature,
    "fallback": fallback.feature,
    "stage": flows_features.stage,
    "nurture": nurture.feature,
    "posts": posts.feature,
    "links": links.feature,
    # Insight: orders and the daily RFM job, the daily metrics summaries, the open HTTP
    # API, the managers' dashboard.
    "orders": orders.feature,
    "metrics": metrics_job.feature,
    "api": api.feature,
    "dashboard": dashboard.feature,
}


class App:
    def __init__(
        self,
        config: AppConfig,
        content: ContentHolder,
        clock: Clock,
        db: Database,
        kv: KV,
        channels: dict[str, Channel],
        rng: random.Random,
        pace_sim: bool = False,
        features: dict[str, FeatureFactory] | None = None,
        link_rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.content = content
        self.clock = clock
        self.db = db
        self.kv = kv
        self.channels = channels
        self.rng = rng
        # Who holds this instance's leases on sends and work.
        self.instance = instance_id()
        self.work = WorkQueue(clock, config.work, self.instance, rng)
        self.outbox = Outbox(clock, config.outbox, rng, kv=kv, owner=self.instance)
        self.tags = TagStore(clock, on_change=self._tag_changed)
        self.rooms = RoomDirectory(config, clock, channels)
        self.interactions = InteractionWriter(config.storage.interaction_batch_size, clock=clock)
        self.interactions.on_new_rooms = self._record_rooms
        self.triggers = Triggers()
        self.tags.listeners.append(self._tag_trigger)
        self.links = LinkMaker(clock, config.web.base, link_rng)
        self.marketing = MarketingGate(config.marketing, clock, kv)
        self.web: WebServer | None = None
        self.services = Services(
            config=config,
            content=content,
            clock=clock,
            kv=kv,
            outbox=self.outbox,
            tags=self.tags,
            rooms=self.rooms,
            random=rng,
            interactions=self.interactions,
            media=Media(channels),
            work=self.work,
            forget=self.forget,
            triggers=self.triggers,
            links=self.links,
            marketing=self.marketing,
        )
        self.self_ids = {ch.self_id for ch in channels.values()}
        platform = Platform(self.services, self.self_ids, content.content_dir, features or FEATURES)
        self.features: list[Feature] = platform.build_all()
        for feature in self.features:
            for kind, runner in feature.work.items():
                self.work.register(kind, runner)
        content.after_reload.append(self._after_reload)
        self.dispatcher = Dispatcher(
            self.services,
            [entry for feature in self.features for entry in feature.handlers],
            self.interactions,
            self_ids=self.self_ids,
            dedupe_ttl=config.dispatcher.dedupe_ttl_seconds,
            max_text_chars=config.dispatcher.max_text_chars,
            # A handler error while the database does not answer is an outage: the event
            # is held and its handler tried again, never answered by the fallback instead.
            probes={"database": self.database_answers},
            # Two of the brand's accounts in one group: one answer, not two.
            shared_groups=len(channels) > 1,
            group_leader=self._group_leader,
        )
        # What tests and tools reach into.
        self.dialogs = platform.need("dialogs", "engine")
        self.stages = platform.need("stage", "tracker")
        self.guard_model = platform.need("guard", "model")
        accounts = {a.id: a for a in config.accounts}
        for account_id, channel in channels.items():
            account = accounts.get(account_id)
            pacing: PacingSection | None = (
                account.pacing if account and account.pacing else config.outbox.pacing
            )
            if isinstance(channel, SimChannel) and not pace_sim:
                pacing = None  # a simulated account has no WeChat limits to respect
            self.outbox.add_channel(channel, pacing)
        self.action_observers: list[Callable[[dict[str, Any]], None]] = []
        self.outbox.observers.append(self._emit)
        self._tasks: list[asyncio.Task[Any]] = []
        self._scheduler: Any = None
        self._logged_out: set[str] = set()

    # ------------------------------------------------------------------ assembly

    @classmethod
    def build(cls, settings: AppSettings, world: SimWorld | None = None) -> App:
        base = settings.base_dir
        config_path = settings.config_path or base / "config.toml"
        config = load_config(config_path)
        content_dir = settings.content_dir or base / config.bot.content_dir
        content = ContentHolder(content_dir, load_content(content_dir))
        tz = ZoneInfo(config.bot.timezone)
        clock = settings.clock or SystemClock(tz)
        from bot.config import database_url, redis_url

        db_url = settings.database_url or database_url(config, base)
        kv = make_kv(
            clock,
            settings.redis_url if settings.redis_url is not None else redis_url(),
            prefix=settings.kv_prefix,
        )
        rng = random.Random(settings.seed)
        channels: dict[str, Channel] = {}
        world = world or SimWorld()
        for index, account in enumerate(config.accounts):
            if not account.enabled or settings.offline:
                continue
            if account.kind == "sim":
                channels[account.id] = SimChannel(account.id, world, clock)
                continue
            token = os.environ.get(account.token_env, "").strip()
            if not token:
                raise ConfigError(
                    [
                        ConfigIssue(
                            str(config_path),
                            f"accounts[{index}].token_env",
                            f"environment variable {account.token_env} is not set: it must "
                            "hold the puppet token of this account",
                        )
                    ]
                )
            from bot.channels.wechaty import WechatyChannel

            channels[account.id] = WechatyChannel(
                account.id,
                account.endpoint,
                token,
                clock,
                tls=account.tls,
                tls_ca_file=account.tls_ca_file,
                tls_server_name=account.tls_server_name,
                options=settings.wechaty_options,
                rng=random.Random(None if settings.seed is None else settings.seed + index),
            )
        if not channels:
            channels[SIM_ACCOUNT] = SimChannel(SIM_ACCOUNT, world, clock)
        return cls(
            config,
            content,
            clock,
            Database(db_url),
            kv,
            channels,
            rng,
            settings.pace_sim,
            settings.features,
            # A seeded app (replay, tests) makes the same link tokens every run.
            None if settings.seed is None else random.Random(f"links:{settings.seed}"),
        )

    # ------------------------------------------------------------------ observers

    def _emit(self, record: dict[str, Any]) -> None:
        for observer in self.action_observers:
            observer(record)

    async def _tag_trigger(self, change: TagChange) -> None:
        await self.triggers.fire(
            Trigger(
                "tag" if change.op == "add" else "untag",
                change.contact_id,
                change.tag,
                change.at,
                None,
                {"source": change.source, "detail": change.detail},
            )
        )

    def _tag_changed(self, change: TagChange) -> None:
        self._emit(
            {
                "action": "tag",
                "contact": change.contact_id,
                "tag": change.tag,
                "op": change.op,
                "source": change.source,
                "at": change.at.isoformat(),
            }
        )

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Storage up and pending work resumed; nothing consumes events yet."""
        await self.db.open()
        await self.outbox.resume()
        await self.work.plan()
        # Each feature's start: lessons learned, dialog state warmed, its recurring work
        # and anything kept from before the queue held it planned. Every row is keyed, so
        # an instance starting next to a running one adds nothing twice.
        for feature in self.features:
            if feature.start is not None:
                await feature.start()

    async def start_live(self) -> None:
        """Consume channel events, run due work, send, and watch content/ for edits."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        for channel in self.channels.values():
            await channel.start()
            self._tasks.append(
                asyncio.create_task(self._consume(channel), name=f"consume:{channel.account_id}")
            )
        self._tasks.append(asyncio.create_task(self.outbox.run_forever(), name="outbox"))
        self._tasks.append(asyncio.create_task(self.work.run_forever(), name="work"))
        self._tasks.append(asyncio.create_task(self.watch_content(), name="content-watch"))
        await self.start_web()
        scheduler = AsyncIOScheduler(timezone=self.config.bot.timezone)
        for feature in self.features:
            for seconds, chore in feature.periodic:
                scheduler.add_job(
                    self._chore,
                    IntervalTrigger(seconds=seconds),
                    args=[feature.name, chore],
                    id=f"{feature.name}:{getattr(chore, '__name__', 'chore')}",
                    max_instances=1,
                    coalesce=True,
                )
        scheduler.add_job(
            self.interactions.flush,
            IntervalTrigger(seconds=self.config.storage.interaction_flush_seconds),
            id="interactions_flush",
            max_instances=1,
            coalesce=True,
        )
        scheduler.start()
        self._scheduler = scheduler

    async def start_web(self, port: int | None = None) -> int | None:
        """Serve the features' routes at [web] listen (`port` overrides it; 0 picks a free
        one). Returns the port, or None when there is nothing to serve or it is off."""
        routes = [route for feature in self.features for route in feature.routes]
        if not routes or not self.config.web.enabled:
            return None
        web = self.config.web
        self.web = WebServer(routes, web.host, web.port if port is None else port)
        try:
            return await self.web.start()
        except OSError as exc:
            # Tracked links stop working; the bot itself goes on (messages matter more).
            log.error("web: cannot listen on %s: %s; tracked links will not open", web.listen, exc)
            self.web = None
            return None

    @staticmethod
    async def _chore(feature: str, chore: Callable[[], Awaitable[object]]) -> None:
        try:
            await chore()
        except Exception:
            log.exception("feature %s: periodic %s failed", feature, chore)

    async def _consume(self, channel: Channel) -> None:
        async for event in channel.events():
            await self.receive(event)

    async def receive(self, event: Event) -> None:
        """An event from a channel: account status is the app's, the rest is dispatched."""
        if isinstance(event, AccountStatus):
            await self._account_status(event)
        else:
            self.feed(event)

    async def _group_leader(self, account_id: str, room_id: str) -> str | None:
        """The account that answers for a group several accounts are in: the connected
        account that owns it (only the owner can remove a member); None when none does.
        Read from the receiving account's own view of the group (its channel caches it),
        never by asking every account about every group."""
        channel = self.channels.get(account_id)
        try:
            info = await channel.room_info(room_id) if channel else None
        except ChannelError:
            return None  # cannot say now: the first copy answers
        owner = info.owner_id if info else None
        if not owner:
            return None
        for account, other in self.channels.items():
            if other.self_id == owner and account not in self._logged_out:
                return account
        return None

    async def _account_status(self, event: AccountStatus) -> None:
        account = event.account_id
        if event.status == "login" and event.self_id:
            self.self_ids.discard("")
            self.self_ids.add(event.self_id)  # the dispatcher and handlers share this set
            self.outbox.wake()  # sends that waited for the account go now
            try:  # the metrics leave its own messages out, logged in or not, from now on
                await metrics.remember_bot_id(account, event.self_id, self.clock.now())
            except Exception:
                log.exception("account %s: its own id not remembered for the metrics", account)
            if account in self._logged_out:
                self._logged_out.discard(account)
                await self._tell_admins(account, f"✅ 账号 {account} 已重新登录，恢复正常运行。")
        elif event.status == "logout":
            self._logged_out.add(account)
            reason = event.detail.get("reason", "")
            log.error("account %s logged out%s", account, f": {reason}" if reason else "")
            # It cannot send any more: another logged-in account tells the admins.
            for other in self.channels:
                if other != account and other not in self._logged_out:
                    text = (
                        f"⚠️ 账号 {account} 已掉线（{reason or '原因未知'}），请尽快扫码重新登录。"
                    )
                    await self._tell_admins(other, text, key=f"{event.event_id}:{account}")
                    break

    async def _record_rooms(self, rooms: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Groups first seen through a message: into the room table (topic, owner). Returns
        those recorded; one that fails is tried again after a later flush."""
        now = self.clock.now()
        done = []
        for account, room in rooms:
            try:
                info = await self.rooms.info(account, room)
                await people.upsert_room(
                    room,
                    account,
                    now,
                    topic=info.topic if info else "",
                    owner_id=info.owner_id if info else None,
                )
            except Exception as exc:
                log.warning("room %s not recorded yet: %s", mask_id(room), exc)
                continue
            done.append((account, room))
        return done

    async def _after_reload(self, problems: list[str]) -> None:
        if problems:
            if not self.config.bot.tell_admins_content_errors or not self.channels:
                return
            digest = hashlib.sha1("\n".join(problems).encode()).hexdigest()[:12]
            hour = self.clock.now().strftime("%Y%m%d%H")  # the same error at most hourly
            text = "⚠️ 内容文件有错误，仍在用之前的内容：\n" + "\n".join(problems[:5])
            via = next((a for a in self.channels if a not in self._logged_out), None)
            if via is not None:
                await self._tell_admins(via, text, key=f"content:{digest}:{hour}")
            return
        for feature in self.features:
            if feature.reloaded is not None:
                await feature.reloaded(problems)

    async def database_answers(self) -> bool:
        return await database_answers(Interaction)

    async def unreachable(self) -> list[str]:
        """The services that do not answer, each named with its (password-free) URL."""
        from storage.db import describe_url

        away = []
        if not await self.database_answers():
            away.append(f"the database ({describe_url(self.db.url)})")
        if not await self.kv.ping():
            away.append(f"the key-value store ({self.kv.describe()})")
        return away

    async def order_placed(
        self, contact_id: str, product: str = "", account_id: str | None = None
    ) -> None:
        """An order of hers (the insight issue's importer and API will call this): fires the
        `order` trigger nurture sequences can start from."""
        await self.triggers.fire(
            Trigger("order", contact_id, product, self.clock.now(), account_id)
        )

    @property
    def judge(self) -> Any:
        """The guard's judge in force (tests and tools read its model)."""
        return self.guard_model.judge

    async def retrain_guard(self) -> bool:
        """Retrain the guard's model when guard_examples.tsv changed. True if it changed."""
        return bool(await self.guard_model.retrain())

    async def forget(self, contact_id: str) -> dict[str, int]:
        """Forget her: every feature's forget hook, then every table. Her messages still
        in the interaction log's buffer are written first; while they cannot be (the
        database just came back, the log is waiting out its backoff) nothing is deleted:
        written afterwards, they would carry her id and text again."""
        await self.interactions.flush(force=True)
        if self.interactions.pending:
            raise RuntimeError(
                f"{self.interactions.pending} interactions not written yet: forget later"
            )
        return await forget_contact(contact_id, self.kv, self.features)

    async def _tell_admins(self, via: str, text: str, key: str = "") -> None:
        stamp = key or f"{via}:{self.clock.now().timestamp()}"
        for admin_id in self.config.bot.super_admins:
            await self.outbox.say(
                account_id=via,
                room_id=None,
                contact_id=admin_id,
                text=text,
                dedupe_key=f"admin-notice:{stamp}:{admin_id}",
            )

    async def watch_content(self, changes: AsyncIterable[object] | None = None) -> None:
        """Reload content/ after each batch of .toml edits. `changes` replaces watchfiles
        in tests; a broken edit is refused by ContentHolder.reload and logged there."""
        if changes is None:
            from watchfiles import awatch

            changes = awatch(
                self.content.content_dir,
                watch_filter=lambda _change, path: path.endswith((".toml", ".tsv")),
            )
        try:
            async for _batch in changes:
                await self.content.reload_and_tell()
        except Exception:
            log.exception("content watcher stopped: edits to content/ now need a restart")

    def feed(self, event: Event) -> None:
        self.dispatcher.feed(event)

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking events, finish what is in hand, drain the outbox (time-limited),
        flush interactions, close connections and storage."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        if self.web is not None:
            with contextlib.suppress(Exception):
                await self.web.stop()
            self.web = None
        for channel in self.channels.values():
            with contextlib.suppress(Exception):
                await channel.stop()
        # The outbox and work loops are asked to stop, not cancelled: a send cut off between
        # the channel and "mark sent" could go out twice after the restart.
        self.outbox.request_stop()
        self.work.request_stop()
        # Consumers end by themselves once their channel's stream has ended: every event a
        # channel still handed over is dispatched. The loops end after the round in hand.
        waiting = [
            t for t in self._tasks if t.get_name().startswith(("consume:", "outbox", "work"))
        ]
        for task in self._tasks:
            if task not in waiting:
                task.cancel()
        if waiting:
            _done, late = await asyncio.wait(waiting, timeout=timeout)
            for task in late:
                log.warning("shutdown: %s did not finish in time", task.get_name())
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        try:
            await asyncio.wait_for(self._finish(timeout), timeout=timeout)
        except TimeoutError:
            log.warning(
                "shutdown time limit reached; unsent actions stay queued for the next start"
            )
        # Events still held for a store that stayed away are counted in the log, not lost
        # without a word.
        await self.dispatcher.close()
        await self.interactions.flush(force=True)
        if self.interactions.pending:
            log.error(
                "%d interactions could not be written before shutdown and are lost",
                self.interactions.pending,
            )
        await self.outbox.persist()
        for channel in self.channels.values():
            with contextlib.suppress(Exception):
                await channel.close()
        await self.kv.close()
        await self.db.close()

    async def _finish(self, timeout: float) -> None:
        await self.dispatcher.join()
        left = await self.outbox.drain(self.clock.now() + timedelta(seconds=timeout))
        if left:
            await self.outbox.persist()
            unstored = self.outbox.unpersisted
            if left > unstored:
                log.warning(
                    "%d actions still queued at shutdown; they resume on the next start",
                    left - unstored,
                )
            if unstored:
                # Only a claim that is true: these were never written, so they are lost.
                log.error("%d actions could not be stored before shutdown and are lost", unstored)

    # ------------------------------------------------------------------ driven mode

    def sim_channels(self) -> list[SimChannel]:
        return [c for c in self.channels.values() if isinstance(c, SimChannel)]

    async def settle(self, max_rounds: int = 1000) -> None:
        """Run until quiet: pending simulated events, due work, due sends."""
        for _ in range(max_rounds):
            progressed = False
            for channel in self.sim_channels():
                for event in channel.take_pending():
                    self.feed(event)
                    progressed = True
            await self.dispatcher.join()
            if await self.work.run_due():
                progressed = True
            before = self.outbox.sent + self.outbox.failed
            await self.outbox.pump()
            if self.outbox.sent + self.outbox.failed != before:
                progressed = True
            if self.interactions.wants_flush:
                await self.interactions.flush()
            if not progressed and not any(c.has_pending() for c in self.sim_channels()):
                return
        log.warning("settle: still busy after %d rounds", max_rounds)

    async def next_due(self, after: datetime | None = None) -> datetime | None:
        """The earliest time work or a send comes due (only those later than `after`)."""
        dues = [await self.work.next_due(), await self.outbox.next_due()]
        present = [d for d in dues if d is not None and (after is None or d > after)]
        return min(present) if present else None

    async def advance_to(self, target: datetime) -> None:
        """Move the clock to `target`, running every job and retry at its own due time."""
        set_clock = getattr(self.clock, "set", None)
        if set_clock is None:
            raise RuntimeError("advance_to needs a clock that can be moved")
        await self.settle()
        while True:
            # Only what comes due later: work still due after settle() (one that keeps
            # failing) must not make the clock jump over every other item's time.
            due = await self.next_due(after=self.clock.now())
            if due is None or due > target:
                break
            set_clock(due)
            await self.settle()
        set_clock(target)
        await self.settle()
