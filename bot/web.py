"""The bot's HTTP server: the routes the features declare (tracked links today, the API
and dashboard later), on aiohttp, at [web] listen. It starts with `mamabot run`; tests
start it on a free loopback port."""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Iterable, Sequence

from aiohttp import web

from bot.features import Route

log = logging.getLogger(__name__)

MAX_ADDRESS = 64  # an X-Forwarded-For entry longer than any address is cut to this


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


def client_address(request: web.Request, trusted: Iterable[str]) -> str:
    """Who sent the request: the peer, or behind trusted reverse proxies the right-most
    X-Forwarded-For address that is not one of them (the proxies append what they saw;
    anything left of that is whatever the client chose to send)."""
    peer = request.remote or "unknown"
    networks = _networks(tuple(trusted))
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getall("X-Forwarded-For", [])
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop[:MAX_ADDRESS]
    return hops[0][:MAX_ADDRESS] if hops else peer


@functools.lru_cache(maxsize=8)  # parsed (and a bad entry warned about) once
def _networks(
    trusted: tuple[str, ...],
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for entry in trusted:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            log.warning("web: trusted_proxies entry %r is not an address; ignored", entry)
    return networks


def _trusted(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
