"""The bot's HTTP server: the routes the features declare (tracked links today, the API
and dashboard later), on aiohttp, at [web] listen. It starts with `mamabot run`; tests
start it on a free loopback port."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiohttp import web

from bot.features import Route

log = logging.getLogger(__name__)


def application(routes: Sequence[Route]) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    for route in routes:
        app.router.add_route(route.method, route.path, route.handle)
    return app


class WebServer:
    def __init__(self, routes: Sequence[Route], host: str, port: int) -> None:
        self.app = application(routes)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Listen; returns the port (the one the system picked when `port` is 0)."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        port = int(sockets[0].getsockname()[1]) if sockets else self.port
        log.info("web: listening on %s:%d", self.host, port)
        return port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
