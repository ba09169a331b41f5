"""The features of flows/: info-collection dialogs, and stages over time.

- dialogs: the intake and other dialogs from content/dialogs.toml, their reminders
  (`dialog_due` work) and her dialog state in the key-value store (forgotten with her);
  the news of a birth told outside them. A question in a dialog that no keyword rule
  answers goes on to the fallback (the staff on duty), so the fallback is built first.
- stage: the daily recompute of every stage (`stage_daily` work) and the birth question.
"""

from __future__ import annotations

from bot.config import DialogsContent
from bot.events import FriendRequest, MessageReceived
from bot.features import Feature, On, Platform
from bot.handler import Handler
from bot.stages import StageEntered
from bot.triggers import Trigger
from flows.dialog import DIALOG_DUE, DialogEngine, DialogHandler, kv_key
from flows.stage_tracker import STAGE_DAILY, StageTracker
from storage.kv import KV


def dialogs(p: Platform) -> Feature:
    s = p.services
    engine = DialogEngine(s.config, s.content, s.outbox, s.tags, s.kv, s.work)
    handler = DialogHandler(engine, p.need("keywords", "handler"), _unanswered(p))

    async def forget_state(contact: str, kv: KV | None) -> dict[str, int]:
        return {"state": int(await kv.delete(kv_key(contact)))} if kv is not None else {}

    async def start() -> None:
        await engine.warm()  # the in-process store starts empty
        await engine.plan()

    return Feature(
        name="dialogs",
        handlers=[(handler, On((FriendRequest, MessageReceived)))],
        content={"dialogs.toml": DialogsContent},
        work={DIALOG_DUE: engine.due},
        start=start,
        forget=forget_state,
        exports={"engine": engine},
    )


def _unanswered(p: Platform) -> Handler | None:
    """The fallback's handler, which tells the staff about a question nothing answered (an
    app built without the fallback feature has none)."""
    try:
        handler: Handler = p.need("fallback", "handler")
    except KeyError:
        return None
    return handler


def stage(p: Platform) -> Feature:
    s = p.services
    assert s.work is not None
    engine = p.need("dialogs", "engine")
    tracker = StageTracker(s.config, s.content, engine, s.tags, s.clock, s.work)
    # One list: a stage entered through her answer reaches the same listeners.
    engine.stage_listeners = tracker.listeners

    async def publish(entered: StageEntered) -> None:
        heard = await s.triggers.fire(
            Trigger(
                "stage",
                entered.contact_id,
                entered.new or "",
                entered.at,
                entered.account_id,
                {"old": entered.old or ""},
            )
        )
        if not heard:  # the stage job leaves her stage unstored and tells again tomorrow
            raise RuntimeError("a stage trigger subscriber failed")

    tracker.listeners.append(publish)
    return Feature(
        name="stage",
        work={STAGE_DAILY: tracker.run_work},
        start=tracker.plan,
        exports={"tracker": tracker},
    )
