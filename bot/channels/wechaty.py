"""A real WeChat / WeCom account, through any Wechaty Puppet Service (gRPC).

The channel owns its connection. It drives the `wechaty-grpc` stubs over a grpclib channel
it creates itself (plain, or TLS with a configurable CA and server name; the token as the
HTTP/2 `:authority` and as `authorization` metadata), and runs its own loop around the
event stream:

- reconnect with backoff and jitter when the stream or the service drops;
- a Ding/Dong watchdog: after `watchdog_misses` quiet ding intervals the stream restarts;
- tolerant parsing: a malformed event is logged and skipped, never fatal;
- payload fetches run concurrently but events come out in the order they arrived.

Events carry ids derived from the service's own ids (message id, friendship id...), so
an event the service re-delivers after a reconnect is dropped by the dispatcher's dedupe.

Sends happen once. A send whose request left and whose answer never came (the connection
dropped mid-call, or the deadline passed) raises `OutcomeUnknown`, not a retryable error;
one that never left (a refused connection) stays retryable. The gateway echoes the
account's own messages back as message events: the channel remembers those echoes, and
`echoed` tells the outbox whether an unsure send went out after all. The protocol keeps no
events for a client that is not connected, so an echo sent while the connection was down is
gone: such a send is resent after the outbox's grace period.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import ipaddress
import json
import logging
import random
import re
import ssl
import sys
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO, TypeVar
from urllib.parse import quote

import aiohttp
import grpclib.client
import grpclib.config
import grpclib.const
import grpclib.exceptions
from wechaty_grpc.wechaty import PuppetStub
from wechaty_grpc.wechaty import puppet as pb

from bot.channels.base import Channel, ChannelError, ContactInfo, OutcomeUnknown, RoomInfo
from bot.clock import Clock
from bot.events import (
    AccountStatus,
    Event,
    FriendAdded,
    FriendRemoved,
    FriendRequest,
    MemberJoined,
    MemberLeft,
    MessageReceived,
    MessageType,
)
from bot.privacy import mask_id

log = logging.getLogger(__name__)

T = TypeVar("T")

MENTION_SEPARATOR = "\u2005"  # what WeChat puts after "@Name" in a mention

# Event types of the puppet-service proto (wechaty.puppet.EventType).
EV_HEARTBEAT, EV_MESSAGE, EV_DONG = 1, 2, 3
EV_ERROR, EV_FRIENDSHIP, EV_ROOM_INVITE, EV_ROOM_JOIN, EV_ROOM_LEAVE = 16, 17, 18, 19, 20
EV_ROOM_TOPIC, EV_SCAN, EV_READY, EV_RESET = 21, 22, 23, 24
EV_LOGIN, EV_LOGOUT, EV_DIRTY = 25, 26, 27

# Gateways put the TypeScript puppet's MessageType numbering in the message-type field,
# not the proto enum's: text is 7 on the wire. Everything we do not act on is UNKNOWN.
WIRE_MESSAGE_TYPES: dict[int, MessageType] = {
    1: MessageType.FILE,  # Attachment
    2: MessageType.VOICE,  # Audio
    3: MessageType.CARD,  # Contact
    5: MessageType.EMOTICON,
    6: MessageType.IMAGE,
    7: MessageType.TEXT,
    9: MessageType.MINI_PROGRAM,
    14: MessageType.LINK,  # Url
    15: MessageType.VIDEO,
}
WIRE_RECALLED = 13

# FileBox JSON (the file-box package's boxType): inline base64, or a URL to download.
FILEBOX_BASE64, FILEBOX_URL = 1, 2
MAX_IMAGE_BYTES = 10 * 1024 * 1024
IMAGE_TIMEOUT = 15.0

FRIENDSHIP_CONFIRM, FRIENDSHIP_RECEIVE = 1, 2
# Beyond the protocol's unknown/confirm/receive/verify, WeCom puppets (WorkPro) send 4 when
# the account deleted her and 5 when she deleted the account (wechaty/puppet-supports#253).
FRIENDSHIP_REMOVED_BY_US, FRIENDSHIP_REMOVED_BY_HER = 4, 5
# What WeChat writes into her chat when a message to her bounced: she deleted the account
# (开启了朋友验证，你还不是他（她）朋友。请先发送朋友验证请求…) or blocked it (消息已发出，但被对方
# 拒收了。). Gateways hand it over as a system message (not a text); one that came as a
# text counts only when it is the whole notice, never a mother quoting it.
NOT_A_FRIEND_NOTICE = re.compile(
    r"开启了朋友验证[，,]\s*你还不是他（她）朋友|^消息已发出，但被对方拒收了"
)
NOT_A_FRIEND_TEXT = re.compile(
    r"\S{0,64}开启了朋友验证，你还不是他（她）朋友。请先发送朋友验证请求，对方验证通过后，"
    r"才能聊天。(发送朋友验证)?|消息已发出，但被对方拒收了。"
)
# Dirty payload types (wechaty.puppet.PayloadType).
DIRTY_CONTACT, DIRTY_ROOM, DIRTY_ROOM_MEMBER = 2, 3, 4

# Echoes of the account's own messages kept for unsure sends to look up, and sends confirmed
# by the gateway's answer (their echoes confirm nothing else).
ECHO_MEMORY = 5000
CONFIRMED_MEMORY = 5000

SCAN_STATUS = {0: "unknown", 1: "cancel", 2: "waiting", 3: "scanned", 4: "confirmed", 5: "timeout"}

# Errors a retry will not fix.
PERMANENT = {
    grpclib.const.Status.INVALID_ARGUMENT,
    grpclib.const.Status.NOT_FOUND,
    grpclib.const.Status.ALREADY_EXISTS,
    grpclib.const.Status.PERMISSION_DENIED,
    grpclib.const.Status.UNAUTHENTICATED,
    grpclib.const.Status.FAILED_PRECONDITION,
    grpclib.const.Status.UNIMPLEMENTED,
}


async def _download(url: str, headers: dict[str, str]) -> bytes | None:
    """An image FileBox's URL, at most MAX_IMAGE_BYTES; a failure is logged, not raised."""
    where = url.split("?")[0]  # a signed URL's query is a credential: never logged
    try:
        timeout = aiohttp.ClientTimeout(total=IMAGE_TIMEOUT)
        plain = {str(k): str(v) for k, v in headers.items()}
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            # No redirects: the gateway's headers go to the host it named, nowhere else.
            session.get(url, headers=plain, allow_redirects=False) as reply,
        ):
            if reply.status != 200:
                log.warning("image download from %s: HTTP %d", where, reply.status)
                return None
            data = bytearray()
            async for chunk in reply.content.iter_chunked(65536):
                data += chunk
                if len(data) > MAX_IMAGE_BYTES:
                    break
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("image download from %s failed: %s", where, type(exc).__name__)
        return None
    if len(data) > MAX_IMAGE_BYTES:
        log.warning("image at %s is over %d bytes", where, MAX_IMAGE_BYTES)
        return None
    return bytes(data)


def _bounce_notice(wire: int, text: str) -> bool:
    """Whether a direct message is the platform's notice that a message to her bounced."""
    if message_type(wire) is MessageType.TEXT:
        return NOT_A_FRIEND_TEXT.fullmatch(text.strip()) is not None
    return NOT_A_FRIEND_NOTICE.search(text) is not None


def message_type(wire: int) -> MessageType:
    return WIRE_MESSAGE_TYPES.get(int(wire), MessageType.UNKNOWN)


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port' -> (host, port); ValueError with a clear message."""
    text = endpoint.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"endpoint must be host:port, got {endpoint!r}")
    return host, int(port)


def uses_tls(token: str, tls: bool) -> bool:
    """Gateways serve TLS unless the token starts with `insecure_`."""
    return tls and not token.startswith("insecure_")


def parse_payload(raw: str) -> dict[str, Any] | None:
    """The JSON object in an event, {} for an empty one, None when it is not an object."""
    if not raw or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class WatchdogExpired(Exception):
    pass


@dataclass
class _Echo:
    """A message of this account the gateway echoed back."""

    conversation: str
    text: str
    message_id: str
    at: datetime
    used: bool = False


def _plain(text: str) -> str:
    """Text as compared with an echo: the mention separator and runs of space are one space."""
    return " ".join(text.replace(MENTION_SEPARATOR, " ").split())


@dataclass
class WechatyOptions:
    reconnect_base_seconds: float = 1.0
    reconnect_max_seconds: float = 60.0
    ding_interval_seconds: float = 15.0
    watchdog_misses: int = 3
    call_timeout_seconds: float = 30.0
    cache_ttl_seconds: float = 3600.0
    cache_size: int = 20_000
    fetch_concurrency: int = 64
    fetch_attempts: int = 3  # a payload fetch that fails transiently is tried again
    fetch_retry_seconds: float = 1.0
    stop_grace_seconds: float = 10.0  # events already in hand are finished at stop
    # Injected waits: `sleep` for reconnect backoff, `tick` for the watchdog interval.
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    tick: Callable[[float], Awaitable[None]] = asyncio.sleep
    qr_out: TextIO | None = None  # where the login QR code is drawn (stderr by default)


class _Cache:
    """Payloads by id, with a TTL on the injected clock and a size bound."""

    def __init__(self, clock: Clock, ttl: float, size: int) -> None:
        self.clock, self.ttl, self.size = clock, timedelta(seconds=ttl), size
        self._items: OrderedDict[str, tuple[datetime, Any]] = OrderedDict()

    def get(self, key: str) -> Any | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] < self.clock.now():
            del self._items[key]
            return None
        return item[1]

    def put(self, key: str, value: Any) -> None:
        self._items[key] = (self.clock.now() + self.ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def drop(self, key: str) -> None:
        self._items.pop(key, None)

    def drop_prefix(self, prefix: str) -> None:
        for key in [k for k in self._items if k.startswith(prefix)]:
            del self._items[key]


class _TokenChannel(grpclib.client.Channel):
    """A grpclib channel that sends the puppet token as the HTTP/2 :authority."""

    def __init__(self, host: str, port: int, authority: str, **kwargs: Any) -> None:
        self._token_authority = authority
        super().__init__(host, port, **kwargs)

    def _get_authority(self, host: str, port: int) -> str:
        return self._token_authority


class WechatyChannel(Channel):
    def __init__(
        self,
        account_id: str,
        endpoint: str,
        token: str,
        clock: Clock,
        *,
        tls: bool = True,
        tls_ca_file: str = "",
        tls_server_name: str = "",
        options: WechatyOptions | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not token:
            raise ValueError("a puppet token is required")
        self.account_id = account_id
        self.self_id = ""
        self.host, self.port = parse_endpoint(endpoint)
        self.token = token
        self._metadata = {"authorization": f"Wechaty {token}"}
        self.clock = clock
        self.tls = uses_tls(token, tls)
        self.tls_ca_file = tls_ca_file
        self.tls_server_name = tls_server_name
        self.options = options or WechatyOptions()
        self.rng = rng or random.Random()
        o = self.options
        self._contacts = _Cache(clock, o.cache_ttl_seconds, o.cache_size)
        self._rooms = _Cache(clock, o.cache_ttl_seconds, o.cache_size)
        self._members = _Cache(clock, o.cache_ttl_seconds, o.cache_size)
        self._out: asyncio.Queue[Event | None] = asyncio.Queue()
        # Fetch tasks in arrival order; the semaphore bounds how many run at once. A slot is
        # taken before a task exists, so a cancelled reader never leaves one behind.
        self._ordered: asyncio.Queue[asyncio.Task[list[Event]] | None] = asyncio.Queue()
        self._slots = asyncio.Semaphore(o.fetch_concurrency)
        self._grpc: grpclib.client.Channel | None = None
        self._stub: Any = None
        self._event_stub: Any = None
        self._seen_events = False
        self._task: asyncio.Task[None] | None = None
        self._emitter: asyncio.Task[None] | None = None
        self._stopping = False
        self._activity = False
        self._last_qr = ""
        self.sessions = 0  # event streams opened so far
        self.logged_in = False
        self.logged_out = False  # the gateway said so; cleared by its next login
        self.connected = asyncio.Event()
        self._echoes: deque[_Echo] = deque(maxlen=ECHO_MEMORY)
        self._confirmed: OrderedDict[str, str] = OrderedDict()  # dedupe key -> message id
        self._echo_watchers: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ lifecycle

    def _make_stub(self) -> Any:
        ssl_context: ssl.SSLContext | None = None
        config = grpclib.config.Configuration()
        if self.tls:
            ssl_context = ssl.create_default_context(cafile=self.tls_ca_file or None)
            ssl_context.set_alpn_protocols(["h2"])
            if self.tls_server_name:
                config = grpclib.config.Configuration(ssl_target_name_override=self.tls_server_name)
            elif _is_ip(self.host):
                # A gateway on a bare IP has a certificate for a name, not for the IP.
                ssl_context.check_hostname = False
        if self._grpc is not None:
            self._grpc.close()
        self._grpc = _TokenChannel(self.host, self.port, self.token, ssl=ssl_context, config=config)
        metadata = self._metadata
        # The event stream lives for hours: it must not get the per-call deadline.
        self._event_stub = PuppetStub(self._grpc, metadata=metadata)
        return PuppetStub(self._grpc, timeout=self.options.call_timeout_seconds, metadata=metadata)

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stopping = False
        self._stub = self._make_stub()
        self._emitter = asyncio.create_task(self._emit(), name=f"wechaty-emit:{self.account_id}")
        self._task = asyncio.create_task(self._run(), name=f"wechaty:{self.account_id}")

    async def stop(self) -> None:
        """Stop reading events, finish the ones already in hand (time-limited), end the
        event stream. The connection stays up: the outbox drains after this."""
        if self._stopping:
            return
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._task = None
        if self._emitter is not None:
            self._ordered.put_nowait(None)
            try:
                await asyncio.wait_for(self._emitter, self.options.stop_grace_seconds)
            except (TimeoutError, Exception):
                log.warning("wechaty %s: events still being read at stop dropped", self.account_id)
            self._emitter = None
        self.connected.clear()
        self._out.put_nowait(None)

    async def close(self) -> None:
        await self.stop()
        if self._grpc is not None:
            self._grpc.close()
            self._grpc = None

    async def events(self) -> AsyncIterator[Event]:
        while True:
            event = await self._out.get()
            if event is None:
                return
            yield event

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            self._seen_events = False
            try:
                await self._session()
                reason = "the event stream ended"
            except asyncio.CancelledError:
                raise
            except WatchdogExpired:
                reason = "no heartbeat or dong from the service"
            except ssl.SSLCertVerificationError as exc:
                reason = (
                    f"the gateway's TLS certificate is not trusted ({exc.verify_message}); "
                    "set tls_ca_file and tls_server_name for this account"
                )
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
            self.connected.clear()
            if self._stopping:
                return
            failures = 0 if self._seen_events else failures + 1
            delay = min(
                self.options.reconnect_max_seconds,
                self.options.reconnect_base_seconds * 2 ** min(failures, 16),
            )
            delay *= 1 + self.rng.uniform(0, 0.3)
            log.warning("wechaty %s: %s; reconnecting in %.1fs", self.account_id, reason, delay)
            # A half-open connection would swallow the next Start: dial a new one.
            self._stub = self._make_stub()
            await self.options.sleep(delay)

    async def _session(self) -> None:
        """One connection: open the event stream, then Start, then read until the stream
        ends or goes quiet. The stream is opened first, as the official client does, so
        the scan and login events Start causes are not missed."""
        opened = asyncio.Event()
        reader = asyncio.create_task(self._read_stream(opened))
        watchdog: asyncio.Task[None] | None = None
        try:
            opening = asyncio.create_task(opened.wait())
            await asyncio.wait({reader, opening}, return_when=asyncio.FIRST_COMPLETED)
            opening.cancel()
            if reader.done():
                reader.result()  # the stream could not be opened: raise why
                return
            await self._stub.start()
            watchdog = asyncio.create_task(self._watchdog())
            done, _ = await asyncio.wait({reader, watchdog}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, watchdog):
                if task is not None:
                    task.cancel()
            for task in (reader, watchdog):
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        if reader in done:
            reader.result()  # raises what ended the stream, if anything
        else:
            watchdog.result()  # raises WatchdogExpired (or what broke the watchdog)

    async def _read_stream(self, opened: asyncio.Event) -> None:
        request = self._event_stub  # the stub of this connection
        async with request.channel.request(
            "/wechaty.Puppet/Event",
            grpclib.const.Cardinality.UNARY_STREAM,
            pb.EventRequest,
            pb.EventResponse,
            metadata=self._metadata,
        ) as stream:
            await stream.send_message(pb.EventRequest(), end=True)
            self.sessions += 1
            self.connected.set()
            opened.set()
            log.info("wechaty %s: event stream open (session %d)", self.account_id, self.sessions)
            async for response in stream:
                self._seen_events = True
                self._activity = True
                await self._on_event(int(response.type), response.payload)

    async def _watchdog(self) -> None:
        misses = 0
        while True:
            await self.options.tick(self.options.ding_interval_seconds)
            if self._activity:
                misses, self._activity = 0, False
            else:
                misses += 1
                if misses >= self.options.watchdog_misses:
                    raise WatchdogExpired
            try:
                await asyncio.wait_for(
                    self._stub.ding(data="mamabot"),
                    min(self.options.call_timeout_seconds, self.options.ding_interval_seconds),
                )
            except Exception as exc:  # counted as a miss by the next tick
                log.debug("wechaty %s: ding failed: %s", self.account_id, exc)

    async def _emit(self) -> None:
        """Hand events on in arrival order, whatever order their fetches finish in."""
        while True:
            task = await self._ordered.get()
            if task is None:
                return
            try:
                events = await task
            except Exception:
                log.exception("wechaty %s: an event could not be read; skipped", self.account_id)
                continue
            finally:
                self._slots.release()
            for event in events:
                self._out.put_nowait(event)

    async def _enqueue(self, read: Callable[[], Awaitable[list[Event]]]) -> None:
        await self._slots.acquire()  # may be cancelled here: nothing exists yet
        self._ordered.put_nowait(asyncio.create_task(self._fetch(read)))

    async def _fetch(self, read: Callable[[], Awaitable[list[Event]]]) -> list[Event]:
        """Read one event's payloads; a transient failure is tried again before the event
        is given up (and logged)."""
        for attempt in range(1, self.options.fetch_attempts + 1):
            try:
                return await read()
            except ChannelError as exc:
                if not exc.retryable or attempt == self.options.fetch_attempts:
                    raise
                log.info("wechaty %s: %s; trying again", self.account_id, exc)
                await self.options.sleep(self.options.fetch_retry_seconds * attempt)
        return []

    # ------------------------------------------------------------------ events in

    async def _on_event(self, kind: int, raw: str) -> None:
        if kind in (EV_HEARTBEAT, EV_DONG):
            return
        payload = parse_payload(raw)
        if payload is None:
            log.warning(
                "wechaty %s: event %d with a malformed payload skipped: %.200r",
                self.account_id,
                kind,
                raw,
            )
            return
        if kind == EV_ERROR:
            log.warning("wechaty %s: the service reports an error: %.500s", self.account_id, raw)
        elif kind == EV_SCAN:
            self._on_scan(payload)
        elif kind == EV_DIRTY:
            self._on_dirty(payload)
        elif kind == EV_ROOM_TOPIC:
            self._rooms.drop(str(payload.get("roomId", "")))
        elif kind in (EV_MESSAGE, EV_FRIENDSHIP, EV_ROOM_JOIN, EV_ROOM_LEAVE, EV_LOGIN, EV_LOGOUT):
            if kind in (EV_ROOM_JOIN, EV_ROOM_LEAVE):
                room_id = str(payload.get("roomId", ""))
                self._rooms.drop(room_id)  # membership changed: refetch on next use
            reader = {
                EV_MESSAGE: self._read_message,
                EV_FRIENDSHIP: self._read_friendship,
                EV_ROOM_JOIN: self._read_join,
                EV_ROOM_LEAVE: self._read_leave,
                EV_LOGIN: self._read_login,
                EV_LOGOUT: self._read_logout,
            }[kind]
            await self._enqueue(lambda: reader(payload))
        elif kind == EV_READY:
            await self._enqueue(lambda: self._status("ready", {}))
        else:
            log.debug("wechaty %s: event %d ignored", self.account_id, kind)

    async def _status(self, status: str, detail: dict[str, str]) -> list[Event]:
        at = self.clock.now()
        return [
            AccountStatus(
                event_id=f"status:{status}:{self.sessions}:{at.timestamp()}",
                account_id=self.account_id,
                at=at,
                status=status,
                self_id=self.self_id,
                detail=detail,
            )
        ]

    async def _read_login(self, payload: dict[str, Any]) -> list[Event]:
        self.self_id = str(payload.get("contactId", "")) or self.self_id
        self.logged_in = True
        self.logged_out = False
        log.info("wechaty %s: logged in as %s", self.account_id, mask_id(self.self_id))
        return await self._status("login", {})

    def can_send(self) -> bool:
        # Only a logout the gateway announced stops sends: a gateway whose puppet was
        # logged in before we connected need not announce a login first.
        return not self.logged_out

    async def _read_logout(self, payload: dict[str, Any]) -> list[Event]:
        self.logged_in = False
        self.logged_out = True
        reason = str(payload.get("data", ""))
        log.error("wechaty %s: logged out (%s)", self.account_id, reason or "no reason given")
        return await self._status("logout", {"reason": reason})

    def _on_scan(self, payload: dict[str, Any]) -> None:
        status = SCAN_STATUS.get(_int(payload.get("status")), "unknown")
        qrcode = str(payload.get("qrcode", ""))
        if qrcode and qrcode != self._last_qr:
            self._last_qr = qrcode
            url = "https://wechaty.js.org/qrcode/" + quote(qrcode, safe="")
            log.warning(
                "wechaty %s: scan the QR code to log in (status %s): %s",
                self.account_id,
                status,
                url,
            )
            self._draw_qr(qrcode)
        else:
            log.info("wechaty %s: scan status %s", self.account_id, status)

    def _draw_qr(self, data: str) -> None:
        out = self.options.qr_out or sys.stderr
        try:
            import segno

            segno.make(data, error="l").terminal(out=out, compact=True)
        except Exception:
            log.exception("could not draw the QR code; use the URL above")

    def _on_dirty(self, payload: dict[str, Any]) -> None:
        kind = _int(payload.get("payloadType"))
        key = str(payload.get("payloadId", ""))
        if kind == DIRTY_CONTACT:
            self._contacts.drop(key)
        elif kind == DIRTY_ROOM:
            self._rooms.drop(key)
            self._members.drop_prefix(f"{key}\x00")
        elif kind == DIRTY_ROOM_MEMBER:
            self._members.drop_prefix(f"{key}\x00")
            self._rooms.drop(key)

    async def _read_message(self, payload: dict[str, Any]) -> list[Event]:
        message_id = str(payload.get("messageId", ""))
        if not message_id:
            log.warning("wechaty %s: message event without messageId skipped", self.account_id)
            return []
        m = await self._call("MessagePayload", self._stub.message_payload(id=message_id))
        wire = int(m.type)
        if wire == WIRE_RECALLED:
            return []
        room = m.room_id or None
        sender = m.from_id
        if self.self_id and sender == self.self_id:
            self._note_echo(room or m.to_id, m.text or "", message_id)
        elif room is None and _bounce_notice(wire, m.text or ""):
            return self._not_a_friend(message_id, sender or m.to_id)
        name = await self._display_name(sender, room)
        mentions = tuple(m.mention_ids)
        return [
            MessageReceived(
                event_id=f"msg:{message_id}",
                account_id=self.account_id,
                at=self.clock.now(),
                sender_id=sender,
                sender_name=name,
                text=m.text or "",
                room=room,
                type=message_type(wire),
                mentions=mentions,
                mentions_self=bool(self.self_id) and self.self_id in mentions,
            )
        ]

    def _not_a_friend(self, message_id: str, contact_id: str) -> list[Event]:
        """The platform's notice that a message to her bounced: she is no longer a friend."""
        if not contact_id:
            return []
        self._contacts.drop(contact_id)
        return [
            FriendRemoved(
                event_id=f"unfriended:{message_id}",
                account_id=self.account_id,
                at=self.clock.now(),
                friend_id=contact_id,
                by_her=True,
            )
        ]

    def _note_echo(self, conversation: str, text: str, message_id: str) -> None:
        self._echoes.append(_Echo(conversation, _plain(text), message_id, self.clock.now()))
        for seen in self._echo_watchers:
            seen()

    def watch_echoes(self, seen: Callable[[], None]) -> None:
        self._echo_watchers.append(seen)

    async def echoed(
        self,
        *,
        room_id: str | None,
        contact_id: str | None,
        text: str,
        mentions: Sequence[str] = (),
        since: datetime,
    ) -> bool | None:
        conversation = room_id or contact_id
        if not conversation:
            return False
        # An echo of a send the gateway confirmed is that send's, never an unsure one's.
        confirmed = set(self._confirmed.values())
        candidates = [
            echo
            for echo in self._echoes
            if not echo.used
            and echo.at >= since
            and echo.conversation == conversation
            and echo.message_id not in confirmed
        ]
        if not candidates:
            return False
        ids = list(mentions) if room_id else []
        wanted = _plain(await self.mention_text(conversation, text, ids) if ids else text)
        for echo in candidates:
            if echo.text == wanted:
                echo.used = True
                return True
        return False

    async def already_done(self, dedupe_key: str) -> bool | None:
        return True if dedupe_key in self._confirmed else None

    async def _read_join(self, payload: dict[str, Any]) -> list[Event]:
        room_id = str(payload.get("roomId", ""))
        invitees = payload.get("inviteeIdList") or []
        if not room_id or not isinstance(invitees, list):
            log.warning("wechaty %s: room-join without room or invitees skipped", self.account_id)
            return []
        inviter = str(payload.get("inviterId", "")) or None
        stamp = _stamp(payload)
        events: list[Event] = []
        for member in (str(m) for m in invitees if m):
            events.append(
                MemberJoined(
                    event_id=f"join:{room_id}:{member}:{stamp}",
                    account_id=self.account_id,
                    at=self.clock.now(),
                    room=room_id,
                    member_id=member,
                    member_name=await self._display_name(member, room_id),
                    inviter_id=inviter,
                )
            )
        return events

    async def _read_leave(self, payload: dict[str, Any]) -> list[Event]:
        room_id = str(payload.get("roomId", ""))
        removees = payload.get("removeeIdList") or []
        if not room_id or not isinstance(removees, list):
            log.warning("wechaty %s: room-leave without room or members skipped", self.account_id)
            return []
        remover = str(payload.get("removerId", "")) or None
        stamp = _stamp(payload)
        return [
            MemberLeft(
                event_id=f"leave:{room_id}:{member}:{stamp}",
                account_id=self.account_id,
                at=self.clock.now(),
                room=room_id,
                member_id=member,
                remover_id=remover,
            )
            for member in (str(m) for m in removees if m)
        ]

    async def _read_friendship(self, payload: dict[str, Any]) -> list[Event]:
        friendship_id = str(payload.get("friendshipId", ""))
        if not friendship_id:
            log.warning("wechaty %s: friendship event without id skipped", self.account_id)
            return []
        f = await self._call("FriendshipPayload", self._stub.friendship_payload(id=friendship_id))
        kind = int(f.type)
        contact = f.contact_id
        if kind == FRIENDSHIP_RECEIVE:
            info = await self._safe_contact(contact)
            return [
                FriendRequest(
                    event_id=f"friendship:{friendship_id}",
                    account_id=self.account_id,
                    at=self.clock.now(),
                    requester_id=contact,
                    hello=f.hello or "",
                    requester_name=info.name if info else "",
                    request_id=friendship_id,
                )
            ]
        if kind == FRIENDSHIP_CONFIRM:
            self._contacts.drop(contact)
            info = await self._safe_contact(contact)
            return [
                FriendAdded(
                    event_id=f"friend-added:{friendship_id}",
                    account_id=self.account_id,
                    at=self.clock.now(),
                    friend_id=contact,
                    friend_name=info.name if info else "",
                )
            ]
        if kind in (FRIENDSHIP_REMOVED_BY_US, FRIENDSHIP_REMOVED_BY_HER):
            self._contacts.drop(contact)
            return [
                FriendRemoved(
                    event_id=f"friend-removed:{friendship_id}",
                    account_id=self.account_id,
                    at=self.clock.now(),
                    friend_id=contact,
                    by_her=kind == FRIENDSHIP_REMOVED_BY_HER,
                )
            ]
        return []  # verify: a request we sent; nothing to do

    # ------------------------------------------------------------------ lookups

    async def _call(self, name: str, call: Awaitable[T]) -> T:
        """A unary call; every failure becomes a ChannelError that says whether a retry
        can help. (Sends go through `_send_text`, which knows when a retry could repeat.)"""
        try:
            return await call
        except asyncio.CancelledError:
            raise
        except grpclib.exceptions.GRPCError as exc:
            retryable = exc.status not in PERMANENT and exc.message != (
                "Missing content-type header"  # the service does not have this call
            )
            raise ChannelError(
                f"{name}: {exc.status.name} {exc.message or ''}".strip(), retryable=retryable
            ) from exc
        except TimeoutError as exc:
            raise ChannelError(f"{name}: timed out") from exc
        except ssl.SSLCertVerificationError as exc:
            raise ChannelError(f"{name}: TLS certificate not trusted: {exc}") from exc
        except Exception as exc:  # connection errors, protocol errors, bad replies
            raise ChannelError(f"{name}: {type(exc).__name__}: {exc}", retryable=True) from exc

    async def contact_info(self, contact_id: str) -> ContactInfo | None:
        cached = self._contacts.get(contact_id)
        if cached is not None:
            return cached
        try:
            p = await self._call("ContactPayload", self._stub.contact_payload(id=contact_id))
        except ChannelError as exc:
            if not exc.retryable:
                return None
            raise
        info = ContactInfo(
            contact_id=contact_id,
            name=p.name or "",
            extra={
                "alias": p.alias or "",
                "friend": "1" if p.friend else "",
                # The numbers on her card (WeCom shows them to the brand): orders name her by
                # phone (storage/orders.py matches them).
                "phone": next((n for n in p.phone if n.strip()), ""),
            },
        )
        self._contacts.put(contact_id, info)
        return info

    async def _safe_contact(self, contact_id: str) -> ContactInfo | None:
        try:
            return await self.contact_info(contact_id)
        except ChannelError as exc:
            log.warning("wechaty %s: contact lookup failed: %s", self.account_id, exc)
            return None

    async def _display_name(self, contact_id: str, room_id: str | None) -> str:
        """Her group nickname in a room, else her WeChat name; "" when unknown."""
        if room_id:
            key = f"{room_id}\x00{contact_id}"
            name = self._members.get(key)
            if name is None:
                try:
                    p = await self._call(
                        "RoomMemberPayload",
                        self._stub.room_member_payload(id=room_id, member_id=contact_id),
                    )
                    name = p.room_alias or p.name or ""
                except ChannelError as exc:
                    log.debug("wechaty %s: member lookup failed: %s", self.account_id, exc)
                    name = ""
                if name:
                    self._members.put(key, name)
            if name:
                return str(name)
        info = await self._safe_contact(contact_id)
        return info.name if info else ""

    async def room_info(self, room_id: str) -> RoomInfo | None:
        cached = self._rooms.get(room_id)
        if cached is not None:
            return cached
        try:
            p = await self._call("RoomPayload", self._stub.room_payload(id=room_id))
        except ChannelError as exc:
            if not exc.retryable:
                return None
            raise
        members = list(p.member_ids)
        if not members:
            listed = await self._call("RoomMemberList", self._stub.room_member_list(id=room_id))
            members = list(listed.member_ids)
        info = RoomInfo(
            room_id=room_id,
            topic=p.topic or "",
            owner_id=p.owner_id or None,
            member_ids=tuple(members),
        )
        self._rooms.put(room_id, info)
        return info

    # ------------------------------------------------------------------ actions out

    async def mention_text(self, room_id: str, text: str, mentions: Sequence[str]) -> str:
        """The text form the service expects: "@Name" + U+2005 for each mention, in front
        unless the text already names her."""
        missing: list[str] = []
        for contact_id in mentions:
            name = await self._display_name(contact_id, room_id) or contact_id
            tag = f"@{name}"
            at = _find_tag(text, tag)
            if at < 0:
                missing.append(tag + MENTION_SEPARATOR)
                continue
            end = at + len(tag)
            if end == len(text) or text[end] in " \u00a0":
                text = text[:end] + MENTION_SEPARATOR + text[end + 1 :]
            elif text[end] != MENTION_SEPARATOR:
                text = text[:end] + MENTION_SEPARATOR + text[end:]
        return "".join(missing) + text

    async def say(
        self,
        *,
        room_id: str | None,
        contact_id: str | None,
        text: str,
        mentions: Sequence[str] = (),
        dedupe_key: str,
    ) -> str | None:
        conversation = room_id or contact_id
        if not conversation:
            raise ChannelError("say needs a room or a contact", retryable=False)
        ids = list(mentions) if room_id else []
        if ids:
            text = await self.mention_text(conversation, text, ids)
        request = pb.MessageSendTextRequest(
            conversation_id=conversation, text=text, mentonal_ids=ids
        )
        reply = await self._send_text(request)
        self._confirmed[dedupe_key] = reply.id or ""
        while len(self._confirmed) > CONFIRMED_MEMORY:
            self._confirmed.popitem(last=False)
        return reply.id or None

    async def _send_text(self, request: pb.MessageSendTextRequest) -> pb.MessageSendTextResponse:
        """MessageSendText, telling apart a request that never left (retryable) from one
        whose answer was lost (OutcomeUnknown: the gateway may have sent it)."""
        name = "MessageSendText"
        left = False
        try:
            async with self._stub.channel.request(
                f"/wechaty.Puppet/{name}",
                grpclib.const.Cardinality.UNARY_UNARY,
                pb.MessageSendTextRequest,
                pb.MessageSendTextResponse,
                timeout=self.options.call_timeout_seconds,
                metadata=self._metadata,
            ) as stream:
                await stream.send_request()  # connects: a refusal here sent nothing
                left = True
                await stream.send_message(request, end=True)
                reply = await stream.recv_message()
        except asyncio.CancelledError:
            raise
        except grpclib.exceptions.GRPCError as exc:
            # The gateway answered with a status: it says what happened, except a deadline.
            if left and exc.status is grpclib.const.Status.DEADLINE_EXCEEDED:
                raise OutcomeUnknown(f"{name}: deadline exceeded after the request left") from exc
            retryable = exc.status not in PERMANENT
            raise ChannelError(
                f"{name}: {exc.status.name} {exc.message or ''}".strip(), retryable=retryable
            ) from exc
        except ssl.SSLCertVerificationError as exc:
            raise ChannelError(f"{name}: TLS certificate not trusted: {exc}") from exc
        except Exception as exc:  # the connection dropped, timed out, or never opened
            what = f"{name}: {type(exc).__name__}: {exc}"
            if left:
                raise OutcomeUnknown(f"{what} (the request had left)") from exc
            raise ChannelError(what, retryable=True) from exc
        if reply is None:
            raise OutcomeUnknown(f"{name}: the stream ended without an answer")
        return reply

    async def image(self, message: MessageReceived) -> bytes | None:
        """The HD image of a message: MessageImage's FileBox (base64 inline, or a URL that
        is downloaded), else the MessageImageStream chunks. At most MAX_IMAGE_BYTES."""
        message_id = message.event_id.removeprefix("msg:")
        try:
            reply = await self._call(
                "MessageImage",
                self._stub.message_image(id=message_id, type=pb.ImageType.IMAGE_TYPE_HD),
            )
        except ChannelError as exc:
            if exc.retryable:
                raise
            return await self._image_stream(message_id)  # the service lacks MessageImage
        try:
            box = json.loads(reply.filebox or "{}")
        except ValueError:
            box = None
        if not isinstance(box, dict):
            log.warning("wechaty %s: unreadable FileBox for an image", self.account_id)
            return None
        kind = box.get("boxType", box.get("type"))
        encoded = box.get("base64")
        if kind == FILEBOX_BASE64 and isinstance(encoded, str):
            if len(encoded) > MAX_IMAGE_BYTES * 4 // 3 + 4:
                log.warning("wechaty %s: image over %d bytes", self.account_id, MAX_IMAGE_BYTES)
                return None
            try:
                return base64.b64decode(encoded, validate=False)
            except ValueError:
                log.warning("wechaty %s: bad base64 in an image FileBox", self.account_id)
                return None
        url = box.get("remoteUrl") or box.get("url")
        if kind == FILEBOX_URL and isinstance(url, str) and url.startswith(("http://", "https://")):
            headers = box.get("headers")
            return await _download(url, headers if isinstance(headers, dict) else {})
        return await self._image_stream(message_id)

    async def _image_stream(self, message_id: str) -> bytes | None:
        data = bytearray()
        try:
            async with self._stub.channel.request(
                "/wechaty.Puppet/MessageImageStream",
                grpclib.const.Cardinality.UNARY_STREAM,
                pb.MessageImageStreamRequest,
                pb.MessageImageStreamResponse,
                timeout=IMAGE_TIMEOUT,
                metadata=self._metadata,
            ) as stream:
                await stream.send_message(
                    pb.MessageImageStreamRequest(id=message_id, type=pb.ImageType.IMAGE_TYPE_HD),
                    end=True,
                )
                async for chunk in stream:
                    data += chunk.file_box_chunk.data
                    if len(data) > MAX_IMAGE_BYTES:
                        log.warning(
                            "wechaty %s: image over %d bytes", self.account_id, MAX_IMAGE_BYTES
                        )
                        return None
        except (
            grpclib.exceptions.GRPCError,
            grpclib.exceptions.StreamTerminatedError,
            OSError,
            TimeoutError,
        ) as exc:
            raise ChannelError(f"MessageImageStream: {exc}", retryable=False) from exc
        return bytes(data) or None

    async def kick(self, *, room_id: str, contact_id: str, dedupe_key: str) -> None:
        await self._call("RoomDel", self._stub.room_del(id=room_id, contact_id=contact_id))
        self._rooms.drop(room_id)

    async def accept_friend(
        self, *, contact_id: str, request_id: str = "", dedupe_key: str
    ) -> None:
        if not request_id:
            raise ChannelError("accepting a friend needs the friendship id", retryable=False)
        await self._call("FriendshipAccept", self._stub.friendship_accept(id=request_id))
        self._contacts.drop(contact_id)

    async def invite(self, *, room_id: str, contact_id: str, dedupe_key: str) -> None:
        await self._call("RoomAdd", self._stub.room_add(id=room_id, contact_id=contact_id))
        self._rooms.drop(room_id)


def _find_tag(text: str, tag: str) -> int:
    """Where "@Name" stands as a whole mention: not the start of "@Name妈妈"."""
    start = text.find(tag)
    while start >= 0:
        end = start + len(tag)
        if end == len(text) or text[end].isspace() or not text[end].isalnum():
            return start
        start = text.find(tag, start + 1)
    return -1


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _stamp(payload: dict[str, Any]) -> str:
    """A stable part for the event id: the service's timestamp, or the payload itself."""
    stamp = payload.get("timestamp")
    if stamp not in (None, ""):
        return str(stamp)
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
