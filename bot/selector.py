"""The one way content picks groups: by id or exact group name, and by room tag.

It imports nothing of the bot, so config validation and the room directory can both use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RoomSelector:
    """The groups an entry of a content file applies to: named by id or exact group name,
    and/or carrying one of the room tags config.toml gives a group ([[rooms]] tags).

    A group is selected when it is named (if names are given) and carries one of the tags
    (if tags are given). A selector with neither selects no group: "every group" is said by
    an entry that has no selector at all, and the entry decides that (a keyword rule
    without rooms also answers in DMs, a welcome override without rooms is no override).
    """

    names: Sequence[str] = ()
    tags: Sequence[str] = ()

    @property
    def empty(self) -> bool:
        return not self.names and not self.tags

    def names_room(self, room_id: str, topic: str = "") -> bool:
        # An unknown topic ("") is no name, even if an entry lists "" by mistake.
        return room_id in self.names or (bool(topic) and topic in self.names)

    def selects(self, room_id: str, topic: str = "", tags: Iterable[str] = ()) -> bool:
        if self.empty:
            return False
        if self.names and not self.names_room(room_id, topic):
            return False
        return not self.tags or not set(self.tags).isdisjoint(tags)
