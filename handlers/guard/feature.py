"""The group guard as a feature: its handler, its model, and the lessons admins teach it.

The trained model (from content/guard_examples.tsv) is shared until a lesson changes it.
Admins' #垃圾 / #正常 lessons are rows in `guard_feedback`: the instance that got one learns
it at once, and every instance picks up the others' lessons at its next `sync` (the live
loop calls it every few seconds) and all of them at start, each lesson once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path

from bot.config import GuardContent
from bot.events import MemberJoined, MessageReceived
from bot.features import Feature, On, Platform
from handlers.guard.handler import GuardHandler, forget_keys
from handlers.guard.judge import Judge
from storage import guard as records
from storage import people
from storage.kv import KV

log = logging.getLogger(__name__)


class GuardModel:
    """The judge in force, retrained when its corpus changes, taught by admins."""

    def __init__(self, content_dir: Path) -> None:
        self.content_dir = content_dir
        self._base = Judge.for_content(content_dir).model
        self.judge = Judge(self._base, shared=True)
        self._seen = 0  # the newest lesson this instance has learned
        self._lock = asyncio.Lock()

    async def sync(self) -> int:
        """Learn the lessons saved since the last sync (by any instance). Returns how many."""
        async with self._lock:
            return await self._learn_new()

    async def teach(self, label: str, text: str, by: str, now: datetime) -> None:
        """An admin's lesson: saved for every instance, learned here at once."""
        async with self._lock:
            # Lessons other instances saved before this one are learned first, in order,
            # so this instance never skips them when it marks its own as seen.
            await self._learn_new()
            row_id = await records.learned(label, text, by, now)
            self.judge.learn(text, label)
            self._seen = max(self._seen, row_id)

    async def _learn_new(self) -> int:
        lessons = await records.feedback_after(self._seen)
        for row_id, label, text in lessons:
            self.judge.learn(text, label)
            self._seen = row_id
        return len(lessons)

    async def retrain(self, content_dir: Path | None = None) -> bool:
        """Retrain when guard_examples.tsv changed; the lessons are learned again on top.
        True if the model changed."""
        base = Judge.for_content(content_dir or self.content_dir).model
        if base is self._base:
            return False
        async with self._lock:
            # Read, then swap and learn with no await in between: a lesson saved later is
            # learned by the new model at the next sync, once.
            lessons = await records.feedback_after(0)
            self.judge.replace_model(base)
            self._base = base  # only now: a failed read above is tried again next time
            self._seen = 0
            for row_id, label, text in lessons:
                self.judge.learn(text, label)
                self._seen = row_id
        log.info("guard model retrained from %s", self.content_dir)
        return True


async def forget_warnings(contact: str, kv: KV | None) -> dict[str, int]:
    """What the guard keeps about her in the key-value store, by group: warning counts,
    newcomer marks and flood windows (her repeat windows are keyed by a digest)."""
    if kv is None:
        return {}
    rooms = await people.rooms_ever(contact)  # before her memberships are anonymised
    dropped = 0
    for room in rooms:
        dropped += await kv.delete(records.warn_key(room, contact))
    return {"warnings": dropped, "keys": await forget_keys(contact, rooms, kv)}


def feature(p: Platform) -> Feature:
    model = GuardModel(p.content_dir)
    handler = GuardHandler(model.judge, p.self_ids)

    async def reloaded(problems: list[str]) -> None:
        if not problems:
            await model.retrain()

    return Feature(
        name="guard",
        handlers=[(handler, On((MessageReceived, MemberJoined), chat="group"))],
        content={"guard.toml": GuardContent},
        # content/guard_examples.tsv (the corpus) is read by GuardModel, retrained on edits.
        start=model.sync,
        reloaded=reloaded,
        # Lessons another instance was taught reach this one within seconds.
        periodic=[(10.0, model.sync)],
        forget=forget_warnings,
        exports={"handler": handler, "model": model, "permissions": handler.permissions},
    )
