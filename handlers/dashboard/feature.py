"""The dashboard feature: its routes on the bot's web server (login, logout, the pages,
and the static files: our CSS and script, and plotly.js from the installed plotly
package, since an intranet install reaches no CDN)."""

from __future__ import annotations

import gzip
import hashlib
import logging
from importlib import resources
from pathlib import Path

from aiohttp import web

from bot.features import Feature, Platform, Route
from handlers.dashboard.auth import (
    HOME_PATH,
    LOGIN_CSRF_COOKIE,
    Auth,
    Login,
    forbidden,
    redirect,
    safe_next,
    same,
)
from handlers.dashboard.pages import Pages
from handlers.dashboard.render import SECURITY_HEADERS, STATIC, Renderer

log = logging.getLogger(__name__)

LOGIN_FAILED = "用户名或密码错误。"
UNAVAILABLE = "登录暂时不可用，请稍后再试。"
MAX_FORM_FIELD = 1100  # a longer name or password is refused before any work
MAX_SHOWN_NAME = 100  # of a typed name shown back in the form
LOGIN_CSRF_SECONDS = 3600


def plotly_js() -> Path:
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


class Static:
    """A fixed set of files, read once, sent gzipped to browsers that take it and kept
    by them for a year: a new version has a new ?v= in the pages that name it."""

    def __init__(self) -> None:
        self.files = {
            "plotly.min.js": (plotly_js(), "application/javascript"),
            "dashboard.js": (STATIC / "dashboard.js", "application/javascript"),
            "dashboard.css": (STATIC / "dashboard.css", "text/css"),
        }
        self._cache: dict[str, tuple[bytes, bytes]] = {}

    def version(self) -> str:
        digest = hashlib.sha256()
        for path, _ in self.files.values():
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return digest.hexdigest()[:12]

    async def serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in self.files:
            raise web.HTTPNotFound(headers=SECURITY_HEADERS)
        path, content_type = self.files[name]
        if name not in self._cache:
            raw = path.read_bytes()
            self._cache[name] = (raw, gzip.compress(raw, 6))
        raw, packed = self._cache[name]
        headers = {
            **SECURITY_HEADERS,
            "Cache-Control": "public, max-age=31536000, immutable",
            "Vary": "Accept-Encoding",
        }
        body = raw
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            body = packed
        return web.Response(body=body, content_type=content_type, headers=headers)


class LoginForm:
    def __init__(self, auth: Auth, renderer: Renderer) -> None:
        self.auth = auth
        self.renderer = renderer
        self._store_down = False  # the key-value store failed: logged once until it is back

    def _form(
        self,
        request: web.Request,
        status: int = 200,
        error: str = "",
        name: str = "",
        target: str = "",
    ) -> web.Response:
        csrf, _ = self.auth.login_csrf(request)
        response = self.renderer.page(
            "login.html",
            status=status,
            login=None,
            nav="",
            title="登录",
            csrf=csrf,
            error=error,
            name="".join(ch for ch in name if ch.isprintable())[:MAX_SHOWN_NAME],
            next=safe_next(target),
        )
        # Set on every showing, so a form left open (or reloaded) keeps a live cookie.
        self.auth.set_cookie(response, LOGIN_CSRF_COOKIE, csrf, LOGIN_CSRF_SECONDS)
        return response

    async def show(self, request: web.Request) -> web.StreamResponse:
        if await self.auth.login_of(request) is not None:
            return redirect(HOME_PATH)
        return self._form(request, target=request.query.get("next", ""))

    async def submit(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not same(str(form.get("csrf", "")), cookie):
            return forbidden()
        name = str(form.get("name", "")).strip()[:MAX_FORM_FIELD]
        password = str(form.get("password", ""))[:MAX_FORM_FIELD]
        target = str(form.get("next", ""))[:MAX_FORM_FIELD]
        address = self.auth.client(request)
        try:
            allowed = await self.auth.reserve(name, address)
        except Exception as exc:
            if not self._store_down:
                log.error(
                    "dashboard: logins refused, the key-value store failed: %s: %s",
                    type(exc).__name__,
                    exc,
                )
            self._store_down = True
            return self._form(request, 503, UNAVAILABLE, name=name, target=target)
        if self._store_down:
            log.info("dashboard: the key-value store answers again; logins resume")
            self._store_down = False
        if not allowed:
            log.warning("dashboard: login refused, too many failures (name or address)")
            minutes = f"{self.auth.config.login_window_minutes:g}"
            return self._form(
                request,
                429,
                f"登录失败次数过多，请 {minutes} 分钟后再试。",
                name=name,
                target=target,
            )
        try:
            if not await self.auth.check(name, password):
                log.info("dashboard: a failed login")  # its slot stays taken
                return self._form(request, 401, LOGIN_FAILED, name=name, target=target)
            response = redirect(safe_next(target))
            await self.auth.start_session(name, response)
        except Exception:
            log.exception("dashboard: a login could not be completed")
            return self._form(request, 503, UNAVAILABLE, name=name, target=target)
        try:
            await self.auth.release(name, address)
        except Exception as exc:  # she is in; the slot comes back with the window's end
            log.warning("dashboard: a login slot was not given back: %s", type(exc).__name__)
        log.info("dashboard: %s logged in", name)
        return response


def feature(p: Platform) -> Feature:
    """The managers' dashboard at /dashboard ([dashboard] enabled)."""
    if not p.services.config.dashboard.enabled:
        return Feature(name="dashboard")
    static = Static()
    renderer = Renderer(static.version())
    auth = Auth(p.services)
    # The live set: a wechaty account's id joins it at login, after the app is built.
    pages = Pages(p.services, auth, renderer, p.self_ids)
    login = LoginForm(auth, renderer)

    async def logout(request: web.Request, who: Login) -> web.StreamResponse:
        response = redirect("/dashboard/login")
        await auth.end_session(who, response)
        log.info("dashboard: %s logged out", who.user)
        return response

    async def home(request: web.Request) -> web.StreamResponse:
        return redirect(HOME_PATH)

    routes = [
        Route("GET", "/dashboard", home),
        Route("GET", "/dashboard/login", login.show),
        Route("POST", "/dashboard/login", login.submit),
        Route("POST", "/dashboard/logout", auth.required(logout)),
        Route("GET", "/dashboard/static/{name}", static.serve),
        Route("GET", "/dashboard/", pages.page(pages.overview)),
        Route("GET", "/dashboard/groups", pages.page(pages.groups)),
        Route("GET", "/dashboard/groups/{room_id:.+}", pages.page(pages.group)),
        Route("GET", "/dashboard/channels", pages.page(pages.channels)),
        Route("GET", "/dashboard/channels/{code:.+}", pages.page(pages.channel)),
        Route("GET", "/dashboard/rfm", pages.page(pages.rfm)),
        Route("GET", "/dashboard/contacts", pages.page(pages.contacts)),
        Route("GET", "/dashboard/contacts/{contact_id:.+}", pages.page(pages.contact)),
    ]
    return Feature(name="dashboard", routes=routes)
