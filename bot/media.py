"""Files attached to messages, fetched from the channel that received them.

Only the guard asks today (QR codes in images from non-admins). A fetch that fails, times
out or returns more than `max_bytes` gives None and is logged: the message is then judged
without its file, never dropped.
"""

from __future__ import annotations

import asyncio
import logging

from bot.channels.base import Channel, ChannelError
from bot.events import MessageReceived

log = logging.getLogger(__name__)


class Media:
    def __init__(
        self,
        channels: dict[str, Channel],
        *,
        timeout: float = 10.0,  # the group's next messages wait behind this one
        max_bytes: int = 10 * 1024 * 1024,
    ) -> None:
        self.channels = channels
        self.timeout = timeout
        self.max_bytes = max_bytes

    async def image(self, message: MessageReceived) -> bytes | None:
        channel = self.channels.get(message.account_id)
        if channel is None:
            return None
        try:
            data = await asyncio.wait_for(channel.image(message), self.timeout)
        except asyncio.CancelledError:
            raise
        except (ChannelError, TimeoutError) as exc:
            log.warning("image of %s not fetched: %s", message.event_id, exc or "timeout")
            return None
        except Exception:  # a malformed reply must not cost the message its judgement
            log.exception("image of %s not fetched", message.event_id)
            return None
        if data is not None and len(data) > self.max_bytes:
            log.warning("image of %s skipped: %d bytes", message.event_id, len(data))
            return None
        return data
