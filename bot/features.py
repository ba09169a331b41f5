"""Feature modules: what a feature declares, and the platform it is built on.

A feature (guard, admin, welcome, keywords, dialogs, privacy, stage, and later posts,
nurture, care, web) declares in one place, its module's `feature(platform)` function:
- its handlers, each with a filter (`On`: event types, group or DM, message types) that
  the dispatcher checks before calling it, so handlers need no preamble of their own;
- its content: each file under content/ it owns and the model that validates it (the
  models live in bot/config.py, which loads and hot-reloads them all as one `Content`;
  a test checks every file there is owned by exactly one feature with that model);
- its work kinds and their runners (the durable work queue);
- its HTTP routes (none yet);
- its forget hook (what it keeps about a mother outside the tables storage forgets);
- what it does at start (`start`: put its recurring work in the queue) and after a
  content reload (`reloaded`).

Permissions are not a handler filter: an admin command's power depends on the group and on
the target, so commands ask the one `bot.permissions.Permissions` object themselves.

The assembly lists the features in chain order; a feature that needs another's object
(the dialog handler asks the keyword handler for answers) asks the platform, which builds
that feature first if it is not built yet. Nothing registers itself at import.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bot.events import Event, MessageReceived, MessageType
from storage import privacy

if TYPE_CHECKING:
    from bot.handler import Handler, Services
    from bot.work import Runner
    from storage.kv import KV

Chat = Literal["any", "group", "dm"]


@dataclass(frozen=True)
class On:
    """Which events a handler is called for. Empty `events`: every event."""

    events: tuple[type[Event], ...] = ()
    chat: Chat = "any"
    types: tuple[MessageType, ...] = ()
    # Also for the copies of a group's event that reach a second bot account in the group
    # (bot/dispatcher.py: only the first copy is answered); for bookkeeping, not replies.
    every_copy: bool = False

    def accepts(self, event: Event) -> bool:
        if self.events and not isinstance(event, self.events):
            return False
        if self.chat != "any":
            in_group = event.room_id is not None
            if in_group != (self.chat == "group"):
                return False
        return not (
            self.types and isinstance(event, MessageReceived) and event.type not in self.types
        )


EVERY_EVENT = On()


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handle: Callable[..., Awaitable[Any]]


ForgetHook = Callable[[str, "KV | None"], Awaitable[Mapping[str, int]]]


@dataclass
class Feature:
    name: str
    handlers: Sequence[tuple[Handler, On]] = ()
    content: Mapping[str, type[Any]] = field(default_factory=dict)
    work: Mapping[str, Runner] = field(default_factory=dict)
    routes: Sequence[Route] = ()
    forget: ForgetHook | None = None
    start: Callable[[], Awaitable[object]] | None = None
    reloaded: Callable[[list[str]], Awaitable[object]] | None = None
    # Per-instance chores in live mode: (every so many seconds, what). Work that must
    # happen once across instances belongs in the work queue instead.
    periodic: Sequence[tuple[float, Callable[[], Awaitable[object]]]] = ()
    # Objects other features may use (the keyword handler, the dialog engine ...).
    exports: Mapping[str, Any] = field(default_factory=dict)


FeatureFactory = Callable[["Platform"], Feature]


class Platform:
    """What features are built on: the services, the bot's own ids, and the other
    features, built on demand by name."""

    def __init__(
        self,
        services: Services,
        self_ids: set[str],
        content_dir: Path,
        factories: Mapping[str, FeatureFactory],
    ) -> None:
        self.services = services
        self.self_ids = self_ids
        self.content_dir = content_dir  # the folder ops edit
        self._factories = dict(factories)
        self._built: dict[str, Feature] = {}
        self._building: list[str] = []

    def feature(self, name: str) -> Feature:
        """The named feature, built now if it is not yet."""
        if name in self._built:
            return self._built[name]
        if name not in self._factories:
            raise KeyError(f"no feature {name!r} in this app")
        if name in self._building:
            cycle = " -> ".join([*self._building, name])
            raise RuntimeError(f"features need each other in a circle: {cycle}")
        self._building.append(name)
        try:
            built = self._factories[name](self)
        finally:
            self._building.pop()
        if built.name != name:
            raise RuntimeError(f"feature listed as {name!r} calls itself {built.name!r}")
        self._built[name] = built
        return built

    def need(self, feature: str, export: str) -> Any:
        """An object another feature exports."""
        exports = self.feature(feature).exports
        if export not in exports:
            raise KeyError(f"feature {feature!r} exports no {export!r}")
        return exports[export]

    def build_all(self) -> list[Feature]:
        """Every listed feature, in the order listed (the chain order)."""
        return [self.feature(name) for name in self._factories]


async def forget_contact(
    contact_id: str, kv: KV | None, features: Sequence[Feature]
) -> dict[str, int]:
    """Forget her everywhere: each feature's hook first (what it keeps outside the tables,
    read while her rows still name her), then every table (storage.privacy.forget)."""
    done: dict[str, int] = {}
    for feature in features:
        if feature.forget is not None:
            for what, count in (await feature.forget(contact_id, kv)).items():
                done[f"{feature.name}.{what}"] = count
    done.update(await privacy.forget(contact_id))
    if kv is not None:
        # Whatever else names her in a key: cooldowns, refusal marks, event dedupe keys.
        # After the tables: if they fail, her pending request is still there to retry.
        done["kv.keys"] = await kv.delete_naming(contact_id)
    return done
