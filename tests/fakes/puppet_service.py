"""A fake Wechaty puppet service: a grpclib server on 127.0.0.1 speaking the real protocol.

It serves the `wechaty-grpc` message classes over grpclib's default codec, so the channel
under test talks real HTTP/2 gRPC to it. Tests script a world (contacts, rooms, owners),
push events, and read back what the bot did. It can drop the event stream, abort the
connections (a crash), fail or hold a call, and re-send events on the next stream.

Like a real gateway (wechaty-puppet-service's EventStreamManager):
- every text the account sends is echoed back as a message event from the account itself
  (`echo_sends`), once the fake has announced the login (a real gateway always has: it
  logs in before the account can send, and tells each new stream so; a scripted world
  that never logs in gets no echoes, which its client could not tell from a member's);
- an event goes only to the streams open when it happens: one emitted while no client is
  connected is gone, not kept for the next stream;
- a call the gateway has received is carried out even if the client's connection drops
  meanwhile (a held send still goes out, and is echoed, when released).

Teardown: `close()` ends the event streams before closing the server; a client waiting on
an open stream would otherwise hang.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpclib.const
import grpclib.server
from grpclib.exceptions import GRPCError
from wechaty_grpc.wechaty import puppet as pb

TEXT_WIRE = 7  # the TypeScript puppet's numbering, which gateways put on the wire

# Every call the fake serves: name -> (request class, response class).
CALLS: dict[str, tuple[type, type]] = {
    "Start": (pb.StartRequest, pb.StartResponse),
    "Stop": (pb.StopRequest, pb.StopResponse),
    "Ding": (pb.DingRequest, pb.DingResponse),
    "Version": (pb.VersionRequest, pb.VersionResponse),
    "Logout": (pb.LogoutRequest, pb.LogoutResponse),
    "ContactPayload": (pb.ContactPayloadRequest, pb.ContactPayloadResponse),
    "ContactList": (pb.ContactListRequest, pb.ContactListResponse),
    "RoomPayload": (pb.RoomPayloadRequest, pb.RoomPayloadResponse),
    "RoomList": (pb.RoomListRequest, pb.RoomListResponse),
    "RoomMemberList": (pb.RoomMemberListRequest, pb.RoomMemberListResponse),
    "RoomMemberPayload": (pb.RoomMemberPayloadRequest, pb.RoomMemberPayloadResponse),
    "MessagePayload": (pb.MessagePayloadRequest, pb.MessagePayloadResponse),
    "MessageSendText": (pb.MessageSendTextRequest, pb.MessageSendTextResponse),
    "RoomDel": (pb.RoomDelRequest, pb.RoomDelResponse),
    "RoomAdd": (pb.RoomAddRequest, pb.RoomAddResponse),
    "FriendshipPayload": (pb.FriendshipPayloadRequest, pb.FriendshipPayloadResponse),
    "FriendshipAccept": (pb.FriendshipAcceptRequest, pb.FriendshipAcceptResponse),
    "DirtyPayload": (pb.DirtyPayloadRequest, pb.DirtyPayloadResponse),
    "MessageImage": (pb.MessageImageRequest, pb.MessageImageResponse),
}
IMAGE_WIRE = 6


@dataclass
class FakeRoom:
    room_id: str
    topic: str
    owner_id: str
    members: list[str]
    aliases: dict[str, str] = field(default_factory=dict)
    inviters: dict[str, str] = field(default_factory=dict)


_END = object()


class FakePuppetService:
    def __init__(self, token: str = "insecure_test-token", self_id: str = "bot") -> None:
        self.token = token
        self.self_id = self_id
        self.contacts: dict[str, str] = {self_id: "小暖"}  # id -> name
        self.friends: set[str] = set()
        # Contacts who deleted the account on their phone (WeChat tells nobody): a message
        # to one is accepted, then the platform writes its notice into her chat.
        self.deleted_by: set[str] = set()
        self.rooms: dict[str, FakeRoom] = {}
        self.messages: dict[str, pb.MessagePayloadResponse] = {}
        self.friendships: dict[str, pb.FriendshipPayloadResponse] = {}
        # Image files by message id, and how MessageImage hands them out: an inline base64
        # FileBox, a URL FileBox (image_url, a loopback server), or "stream": MessageImage
        # is not served and MessageImageStream sends the file in chunks.
        self.images: dict[str, bytes] = {}
        self.image_box = "base64"
        self.image_url = ""
        # What the bot did, in order.
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[dict[str, Any]] = []
        self.kicked: list[tuple[str, str]] = []
        self.invited: list[tuple[str, str]] = []
        self.accepted: list[str] = []
        self.authorizations: list[str] = []
        # Fault injection.
        self.failures: dict[str, list[GRPCError]] = {}
        self.holds: dict[str, asyncio.Event] = {}
        self.resend_on_connect: list[pb.EventResponse] = []
        self.answer_dings = True
        self.auto_login = False  # push a login event on every new stream
        self.login_on_start = False  # push a login event when Start is called
        self.echo_sends = True  # echo every sent text back as a message from the account
        self.announced = False  # a login event has been pushed: the client knows who it is
        self._work: set[asyncio.Task[Any]] = set()  # calls carried out past their client
        self.event_deadlines: list[object] = []
        self.on_call: Callable[[str, dict[str, Any]], None] | None = None
        self._streams: list[asyncio.Queue[object]] = []
        self._server_streams: list[grpclib.server.Stream[Any, Any]] = []
        self._changed = asyncio.Event()  # pulsed on every call and stream change
        self.streams_opened = 0
        self._seq = 0
        self._server: grpclib.server.Server | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(
        self, port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> FakePuppetService:
        self._server = grpclib.server.Server([self])
        await self._server.start("127.0.0.1", port or self.port, ssl=ssl_context)
        sockets: list[socket.socket] = self._server._server.sockets  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        return self

    async def __aenter__(self) -> FakePuppetService:
        if self._server is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def close(self) -> None:
        for task in self._work:
            task.cancel()
        self.end_streams()
        # Let each stream send its end before the server cancels the handlers; a client
        # whose stream is cut by cancellation instead waits forever.
        await self._wait(lambda: not self._streams, 10)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def end_streams(self) -> None:
        """End every open event stream normally (the client sees the stream finish)."""
        for queue in self._streams:
            queue.put_nowait(_END)

    def abort_connections(self) -> None:
        """Cut the TCP connections under the event streams, as a crashing gateway would."""
        for stream in self._server_streams:
            transport = getattr(stream._stream, "_transport", None)
            if transport is not None:
                transport.abort()
        self._server_streams.clear()

    async def _wait(self, predicate: Callable[[], bool], timeout: float) -> None:
        async def until() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)

    def _pulse(self) -> None:
        self._changed.set()

    async def wait_for_streams(self, count: int, timeout: float = 10.0) -> None:
        """Until `count` event streams have been opened in all (a reconnect adds one)."""
        await self._wait(lambda: self.streams_opened >= count, timeout)

    async def wait_for_streams_closed(self, timeout: float = 10.0) -> None:
        await self._wait(lambda: not self._streams, timeout)

    async def wait_for_call(self, name: str, count: int = 1, timeout: float = 10.0) -> None:
        await self._wait(lambda: sum(1 for n, _ in self.calls if n == name) >= count, timeout)

    # ------------------------------------------------------------------ world

    def contact(self, contact_id: str, name: str, *, friend: bool = False) -> None:
        self.contacts[contact_id] = name
        if friend:
            self.friends.add(contact_id)

    def room(self, room_id: str, topic: str, owner: str, members: list[str]) -> FakeRoom:
        for member in members:
            self.contacts.setdefault(member, member)
        if self.self_id not in members:
            members = [*members, self.self_id]
        room = FakeRoom(room_id, topic, owner, list(members))
        self.rooms[room_id] = room
        return room

    # ------------------------------------------------------------------ events

    def push(self, event_type: pb.EventType, payload: dict[str, Any] | str) -> pb.EventResponse:
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        event = pb.EventResponse(type=event_type, payload=data)
        for queue in self._streams:
            queue.put_nowait(event)
        return event

    def push_raw(self, event_type: int, payload: str) -> None:
        """An event exactly as given, even malformed."""
        event = pb.EventResponse(payload=payload)
        event.type = event_type  # type: ignore[assignment]
        for queue in self._streams:
            queue.put_nowait(event)

    def _next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq}"

    def login(self) -> None:
        self.announced = True
        self.push(pb.EventType.EVENT_TYPE_LOGIN, {"contactId": self.self_id})

    def message(
        self,
        sender: str,
        text: str,
        *,
        room: str | None = None,
        mentions: list[str] | None = None,
        wire_type: int = TEXT_WIRE,
        message_id: str | None = None,
        image: bytes | None = None,
    ) -> str:
        message_id = message_id or self._next_id("msg-")
        if image is not None:
            self.images[message_id] = image
            wire_type = IMAGE_WIRE
        payload = pb.MessagePayloadResponse(
            id=message_id,
            text=text,
            timestamp=1_764_032_400_000,
            from_id=sender,
            room_id=room or "",
            to_id="" if room else self.self_id,
            mention_ids=list(mentions or []),
        )
        payload.type = wire_type  # type: ignore[assignment]  # the wire numbering, as gateways send
        self.messages[message_id] = payload
        self.push(pb.EventType.EVENT_TYPE_MESSAGE, {"messageId": message_id})
        return message_id

    def join(self, room_id: str, invitees: list[str], inviter: str, timestamp: int = 1) -> None:
        room = self.rooms[room_id]
        for member in invitees:
            if member not in room.members:
                room.members.append(member)
            room.inviters[member] = inviter
        self.push(
            pb.EventType.EVENT_TYPE_ROOM_JOIN,
            {
                "roomId": room_id,
                "inviteeIdList": invitees,
                "inviterId": inviter,
                "timestamp": timestamp,
            },
        )

    def leave(self, room_id: str, removees: list[str], remover: str, timestamp: int = 1) -> None:
        room = self.rooms[room_id]
        room.members = [m for m in room.members if m not in removees]
        self.push(
            pb.EventType.EVENT_TYPE_ROOM_LEAVE,
            {
                "roomId": room_id,
                "removeeIdList": removees,
                "removerId": remover,
                "timestamp": timestamp,
            },
        )

    def friend_request(self, contact_id: str, name: str, hello: str) -> str:
        self.contacts[contact_id] = name
        friendship_id = self._next_id("fr-")
        payload = pb.FriendshipPayloadResponse(
            id=friendship_id,
            contact_id=contact_id,
            hello=hello,
            type=pb.FriendshipType.FRIENDSHIP_TYPE_RECEIVE,
        )
        self.friendships[friendship_id] = payload
        self.push(pb.EventType.EVENT_TYPE_FRIENDSHIP, {"friendshipId": friendship_id})
        return friendship_id

    def deletes_the_bot(self, contact_id: str) -> None:
        """She deletes the account on her phone. No event: WeChat tells nobody."""
        self.friends.discard(contact_id)
        self.deleted_by.add(contact_id)

    def friendship_removed(self, contact_id: str, *, by_her: bool) -> None:
        """A WeCom gateway's friendship event for a deletion (WorkPro: type 5 when she
        deleted the account, 4 when the account deleted her; beyond the protocol's enum)."""
        self.friends.discard(contact_id)
        friendship_id = self._next_id("fr-")
        payload = pb.FriendshipPayloadResponse(id=friendship_id, contact_id=contact_id)
        payload.type = 5 if by_her else 4  # type: ignore[assignment]  # as the gateway sends
        self.friendships[friendship_id] = payload
        self.push(pb.EventType.EVENT_TYPE_FRIENDSHIP, {"friendshipId": friendship_id})

    # ------------------------------------------------------------------ faults

    def fail_next(self, call: str, status: grpclib.const.Status, message: str = "") -> None:
        self.failures.setdefault(call, []).append(GRPCError(status, message or "injected"))

    def hold(self, call: str) -> asyncio.Event:
        """Calls of this name wait until the returned event is set."""
        gate = asyncio.Event()
        self.holds[call] = gate
        return gate

    # ------------------------------------------------------------------ serving

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        mapping = {}
        for name, (request_type, reply_type) in CALLS.items():
            handler = self._event if name == "Event" else self._unary(name)
            mapping[f"/wechaty.Puppet/{name}"] = grpclib.const.Handler(
                handler, grpclib.const.Cardinality.UNARY_UNARY, request_type, reply_type
            )
        mapping["/wechaty.Puppet/MessageImageStream"] = grpclib.const.Handler(
            self._image_stream,
            grpclib.const.Cardinality.UNARY_STREAM,
            pb.MessageImageStreamRequest,
            pb.MessageImageStreamResponse,
        )
        if self.image_box == "stream":
            del mapping["/wechaty.Puppet/MessageImage"]
        mapping["/wechaty.Puppet/Event"] = grpclib.const.Handler(
            self._event,
            grpclib.const.Cardinality.UNARY_STREAM,
            pb.EventRequest,
            pb.EventResponse,
        )
        return mapping

    def _unary(self, name: str) -> Callable[[grpclib.server.Stream[Any, Any]], Awaitable[None]]:
        async def serve(stream: grpclib.server.Stream[Any, Any]) -> None:
            request = await stream.recv_message()
            assert request is not None
            self.authorizations.append(stream.metadata.get("authorization", ""))  # type: ignore[union-attr, arg-type]
            self.calls.append((name, request.to_dict()))
            self._pulse()
            if self.on_call is not None and name not in ("Ding",):
                self.on_call(name, request.to_dict())
            # Carried out to the end even when the client's connection drops meanwhile.
            work = asyncio.ensure_future(self._carry_out(name, request))
            self._work.add(work)
            work.add_done_callback(self._finished)
            reply = await asyncio.shield(work)
            await stream.send_message(reply)

        return serve

    def _finished(self, work: asyncio.Task[Any]) -> None:
        self._work.discard(work)
        if not work.cancelled():
            work.exception()  # a client that left never reads it: it is retrieved here

    async def _carry_out(self, name: str, request: Any) -> Any:
        gate = self.holds.get(name)
        if gate is not None:
            await gate.wait()
        failures = self.failures.get(name)
        if failures:
            raise failures.pop(0)
        return await getattr(self, f"_{name}")(request)

    async def _event(self, stream: grpclib.server.Stream[Any, Any]) -> None:
        await stream.recv_message()
        self.event_deadlines.append(stream.deadline)
        self.authorizations.append(stream.metadata.get("authorization", ""))  # type: ignore[union-attr, arg-type]
        queue: asyncio.Queue[object] = asyncio.Queue()
        for event in self.resend_on_connect:
            queue.put_nowait(event)
        self.resend_on_connect = []
        if self.auto_login:
            self.announced = True
            queue.put_nowait(
                pb.EventResponse(
                    type=pb.EventType.EVENT_TYPE_LOGIN,
                    payload=json.dumps({"contactId": self.self_id}),
                )
            )
        self._streams.append(queue)
        self._server_streams.append(stream)
        self.streams_opened += 1
        self._pulse()
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                assert isinstance(item, pb.EventResponse)
                await stream.send_message(item)
        finally:
            self._streams.remove(queue)
            if stream in self._server_streams:
                self._server_streams.remove(stream)
            self._pulse()

    # Each call's answer, from the scripted world.

    async def _Start(self, _req: Any) -> pb.StartResponse:
        if self.login_on_start:  # only streams already open hear it, as with a real service
            self.login()
        return pb.StartResponse()

    async def _Stop(self, _req: Any) -> pb.StopResponse:
        return pb.StopResponse()

    async def _Logout(self, _req: Any) -> pb.LogoutResponse:
        return pb.LogoutResponse()

    async def _Version(self, _req: Any) -> pb.VersionResponse:
        return pb.VersionResponse(version="fake-0.1")

    async def _Ding(self, req: pb.DingRequest) -> pb.DingResponse:
        if self.answer_dings:
            self.push(pb.EventType.EVENT_TYPE_DONG, {"data": req.data})
        return pb.DingResponse()

    async def _ContactPayload(self, req: pb.ContactPayloadRequest) -> pb.ContactPayloadResponse:
        if req.id not in self.contacts:
            raise GRPCError(grpclib.const.Status.NOT_FOUND, f"no contact {req.id}")
        return pb.ContactPayloadResponse(
            id=req.id, name=self.contacts[req.id], friend=req.id in self.friends
        )

    async def _ContactList(self, _req: Any) -> pb.ContactListResponse:
        return pb.ContactListResponse(ids=list(self.contacts))

    async def _RoomPayload(self, req: pb.RoomPayloadRequest) -> pb.RoomPayloadResponse:
        room = self.rooms.get(req.id)
        if room is None:
            raise GRPCError(grpclib.const.Status.NOT_FOUND, f"no room {req.id}")
        return pb.RoomPayloadResponse(
            id=room.room_id, topic=room.topic, owner_id=room.owner_id, member_ids=room.members
        )

    async def _RoomList(self, _req: Any) -> pb.RoomListResponse:
        return pb.RoomListResponse(ids=list(self.rooms))

    async def _RoomMemberList(self, req: pb.RoomMemberListRequest) -> pb.RoomMemberListResponse:
        room = self.rooms.get(req.id)
        if room is None:
            raise GRPCError(grpclib.const.Status.NOT_FOUND, f"no room {req.id}")
        return pb.RoomMemberListResponse(member_ids=room.members)

    async def _RoomMemberPayload(
        self, req: pb.RoomMemberPayloadRequest
    ) -> pb.RoomMemberPayloadResponse:
        room = self.rooms.get(req.id)
        if room is None or req.member_id not in self.contacts:
            raise GRPCError(grpclib.const.Status.NOT_FOUND, "no such member")
        return pb.RoomMemberPayloadResponse(
            id=req.member_id,
            name=self.contacts[req.member_id],
            room_alias=room.aliases.get(req.member_id, ""),
            inviter_id=room.inviters.get(req.member_id, ""),
        )

    async def _MessagePayload(self, req: pb.MessagePayloadRequest) -> pb.MessagePayloadResponse:
        message = self.messages.get(req.id)
        if message is None:
            raise GRPCError(grpclib.const.Status.NOT_FOUND, f"no message {req.id}")
        return message

    async def _MessageImage(self, req: pb.MessageImageRequest) -> pb.MessageImageResponse:
        data = self.images.get(req.id)
        if data is None:
            raise GRPCError(grpclib.const.Status.NOT_FOUND, f"no image {req.id}")
        if self.image_box == "url":
            box = {"name": "image.jpg", "metadata": {}, "boxType": 2, "remoteUrl": self.image_url}
        else:
            box = {
                "name": "image.jpg",
                "metadata": {},
                "boxType": 1,
                "base64": base64.b64encode(data).decode(),
            }
        return pb.MessageImageResponse(filebox=json.dumps(box))

    async def _image_stream(self, stream: grpclib.server.Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        assert request is not None
        self.calls.append(("MessageImageStream", request.to_dict()))
        data = self.images.get(request.id)
        if data is None:
            raise GRPCError(grpclib.const.Status.NOT_FOUND, f"no image {request.id}")
        await stream.send_message(
            pb.MessageImageStreamResponse(file_box_chunk=pb.FileBoxChunk(name="image.jpg"))
        )
        for start in range(0, len(data), 4096):
            chunk = pb.FileBoxChunk(data=data[start : start + 4096])
            await stream.send_message(pb.MessageImageStreamResponse(file_box_chunk=chunk))

    async def _MessageSendText(self, req: pb.MessageSendTextRequest) -> pb.MessageSendTextResponse:
        message_id = self._next_id("sent-")
        self.sent.append(
            {
                "conversation": req.conversation_id,
                "text": req.text,
                "mentions": list(req.mentonal_ids),
                "id": message_id,
            }
        )
        if self.echo_sends and self.announced:
            self._echo(message_id, req)
        if req.conversation_id in self.deleted_by:
            self._bounced(req.conversation_id)
        return pb.MessageSendTextResponse(id=message_id)

    def _bounced(self, contact_id: str) -> None:
        """What WeChat writes into her chat after a message to someone who deleted the
        account: a system message (wire type 0), from her side of the conversation."""
        name = self.contacts.get(contact_id, "")
        notice = (
            f"{name}开启了朋友验证，你还不是他（她）朋友。请先发送朋友验证请求，"
            "对方验证通过后，才能聊天。发送朋友验证"
        )
        self.message(contact_id, notice, wire_type=0)

    def _echo(self, message_id: str, req: pb.MessageSendTextRequest) -> None:
        """The account's own message, as the gateway reports it to the open streams."""
        room = req.conversation_id if req.conversation_id in self.rooms else ""
        payload = pb.MessagePayloadResponse(
            id=message_id,
            text=req.text,
            timestamp=1_764_032_400_000,
            from_id=self.self_id,
            room_id=room,
            to_id="" if room else req.conversation_id,
            mention_ids=list(req.mentonal_ids),
        )
        payload.type = TEXT_WIRE  # type: ignore[assignment]
        self.messages[message_id] = payload
        self.push(pb.EventType.EVENT_TYPE_MESSAGE, {"messageId": message_id})

    async def _RoomDel(self, req: pb.RoomDelRequest) -> pb.RoomDelResponse:
        room = self.rooms.get(req.id)
        if room is None:
            raise GRPCError(grpclib.const.Status.NOT_FOUND, f"no room {req.id}")
        self.kicked.append((req.id, req.contact_id))
        room.members = [m for m in room.members if m != req.contact_id]
        return pb.RoomDelResponse()

    async def _RoomAdd(self, req: pb.RoomAddRequest) -> pb.RoomAddResponse:
        room = self.rooms.get(req.id)
        if room is None:
            raise GRPCError(grpclib.const.Status.NOT_FOUND, f"no room {req.id}")
        self.invited.append((req.id, req.contact_id))
        return pb.RoomAddResponse()

    async def _FriendshipPayload(
        self, req: pb.FriendshipPayloadRequest
    ) -> pb.FriendshipPayloadResponse:
        payload = self.friendships.get(req.id)
        if payload is None:
            raise GRPCError(grpclib.const.Status.NOT_FOUND, f"no friendship {req.id}")
        return payload

    async def _FriendshipAccept(
        self, req: pb.FriendshipAcceptRequest
    ) -> pb.FriendshipAcceptResponse:
        payload = self.friendships.get(req.id)
        if payload is None:
            raise GRPCError(grpclib.const.Status.NOT_FOUND, f"no friendship {req.id}")
        self.accepted.append(payload.contact_id)
        self.friends.add(payload.contact_id)
        return pb.FriendshipAcceptResponse()

    async def _DirtyPayload(self, _req: Any) -> pb.DirtyPayloadResponse:
        return pb.DirtyPayloadResponse()


# --------------------------------------------------------------------------- by hand

DEMO_HELP = """\
fake puppet service on {endpoint}, token {token}
  b: 宝宝湿疹怎么办        b says this in 孕妈交流群 (R1)
  dm b: 你好               b says this in a private chat
  join c 小红              c joins R1, invited by a
  leave c                  c leaves R1
  friend c 小红 我是从小红书来的   c sends a friend request with this hello
  login / logout           the account logs in / out
Lines the bot sends are printed as they arrive."""


async def _by_hand(port: int, token: str) -> None:
    import sys

    fake = FakePuppetService(token=token)
    fake.contact("o", "群主")
    fake.contact("a", "阿芳")
    fake.contact("b", "小美")
    fake.room("R1", "孕妈交流群", owner="o", members=["o", "a", "b"])
    fake.on_call = lambda name, request: print(f"<< {name} {request}", flush=True)
    fake.auto_login = True
    await fake.start(port)
    print(DEMO_HELP.format(endpoint=fake.endpoint, token=token), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        line = line.strip()
        try:
            if line.startswith("dm ") and ":" in line:
                who, text = line[3:].split(":", 1)
                fake.message(who.strip(), text.strip())
            elif line.startswith("join "):
                _, who, name = line.split(maxsplit=2)
                fake.contact(who, name)
                fake.join("R1", [who], inviter="a", timestamp=int(loop.time() * 1000))
            elif line.startswith("leave "):
                fake.leave("R1", [line.split()[1]], remover=line.split()[1])
            elif line.startswith("friend "):
                _, who, name, hello = line.split(maxsplit=3)
                fake.friend_request(who, name, hello)
            elif line == "login":
                fake.login()
            elif line == "logout":
                fake.push(pb.EventType.EVENT_TYPE_LOGOUT, {"contactId": fake.self_id, "data": ""})
            elif ":" in line:
                who, text = line.split(":", 1)
                fake.message(who.strip(), text.strip(), room="R1")
            elif line:
                print("?", flush=True)
        except (ValueError, KeyError) as exc:
            print(f"? {exc}", flush=True)
    await fake.close()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Run the fake puppet service by hand.")
    parser.add_argument("--port", type=int, default=8788)
    parser.add_argument("--token", default="insecure_local-test")
    args = parser.parse_args()
    asyncio.run(_by_hand(args.port, args.token))
