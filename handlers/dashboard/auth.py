"""Who may see the dashboard: login, sessions, CSRF tokens and the login rate limit.

- A session is a random token in an HttpOnly, SameSite=Strict cookie; the database keeps
  only its SHA-256, with an expiry on the bot's clock ([dashboard] session_hours).
- Every form carries a CSRF token: the session's own once logged in; on the login form a
  random one that is also in a cookie (double submit), since there is no session yet.
- Failed logins are counted per user name and per client address in the key-value store
  (fixed windows of [dashboard] login_window_minutes, on the bot's clock); past
  login_attempts, logins from that name or address are refused until the window ends.
  An attempt takes its slot before the password is checked (so parallel guesses cannot
  all pass the check) and gives it back when the password was right.
- The client address is the peer's, or, when the peer is one of [dashboard]
  trusted_proxies, the right-most X-Forwarded-For address that is not a trusted proxy.
- Password checks (Argon2, ~0.2 s of CPU each) run in worker threads, at most
  VERIFY_SLOTS at a time, so a burst of logins never stalls the bot's event loop.
- An unknown name and a wrong password get the same answer, after the same work.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from aiohttp import web

from bot.handler import Services
from bot.web import client_address
from handlers.dashboard import users
from handlers.dashboard.render import NO_STORE, SECURITY_HEADERS
from storage import dashboard as store

log = logging.getLogger(__name__)

SESSION_COOKIE = "mamabot_session"
LOGIN_CSRF_COOKIE = "mamabot_login_csrf"
COOKIE_PATH = "/dashboard"
LOGIN_PATH = "/dashboard/login"
HOME_PATH = "/dashboard/"
VERIFY_SLOTS = 2  # password checks running at once (each holds a worker thread)

Page = Callable[[web.Request, "Login"], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Login:
    """The logged-in user of a request."""

    user: str
    csrf: str
    token_hash: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


def redirect(location: str, status: int = 303) -> web.Response:
    return web.Response(
        status=status, headers={**SECURITY_HEADERS, **NO_STORE, "Location": location}
    )


def forbidden() -> web.Response:
    # Fixed text: nothing from the request is echoed back.
    return web.Response(
        status=403,
        text="403 请求无效：页面已过期，请刷新后重试。(invalid or missing CSRF token)",
        content_type="text/plain",
        charset="utf-8",
        headers={**SECURITY_HEADERS, **NO_STORE},
    )


def next_param(request: web.Request) -> str:
    """The request's path and query as the login form's ?next= value: its raw (still
    percent-encoded) form, quoted once more, so that ids holding '#', '?', '&' or '%'
    and every query parameter come back intact."""
    return quote(request.raw_path, safe="/-_.~")


def safe_next(value: str) -> str:
    """Where to go after logging in: a dashboard path of ours, never another site."""
    if (
        value.startswith(HOME_PATH)
        and "//" not in value
        and "\\" not in value
        and not value.startswith(LOGIN_PATH)
        and all(ch.isprintable() for ch in value)
    ):
        return value
    return HOME_PATH


class Auth:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.config = services.config.dashboard
        self.web = services.config.web
        self.verifying = asyncio.Semaphore(VERIFY_SLOTS)

    # ------------------------------------------------------------ cookies

    def set_cookie(self, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=COOKIE_PATH,
            httponly=True,
            samesite="Strict",
            secure=self.config.secure_cookies,
        )

    def clear_cookie(self, response: web.StreamResponse, name: str) -> None:
        response.del_cookie(
            name,
            path=COOKIE_PATH,
            httponly=True,
            samesite="Strict",
            secure=self.config.secure_cookies,
        )

    # ------------------------------------------------------------ sessions

    async def login_of(self, request: web.Request) -> Login | None:
        token = request.cookies.get(SESSION_COOKIE, "")
        if not token or len(token) > 256:
            return None
        digest = token_hash(token)
        session = await store.live_session(digest, self.services.clock.now())
        if session is None:
            return None
        return Login(session.user_name, session.csrf, digest)

    async def start_session(self, user: str, response: web.StreamResponse) -> None:
        now = self.services.clock.now()
        token = secrets.token_urlsafe(32)
        expires = now + timedelta(hours=self.config.session_hours)
        await store.create_session(token_hash(token), user, secrets.token_urlsafe(32), now, expires)
        self.set_cookie(response, SESSION_COOKIE, token, int(self.config.session_hours * 3600))
        self.clear_cookie(response, LOGIN_CSRF_COOKIE)

    async def end_session(self, login: Login, response: web.StreamResponse) -> None:
        await store.end_session(login.token_hash)
        self.clear_cookie(response, SESSION_COOKIE)

    def required(self, page: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """The page for a logged-in user; anyone else is sent to the login form (and
        learns nothing: an empty redirect). A POST must carry the session's CSRF token."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            login = await self.login_of(request)
            if login is None:
                if request.method != "GET":
                    return forbidden()
                return redirect(f"{LOGIN_PATH}?next={next_param(request)}")
            if request.method == "POST":
                form = await request.post()
                if not same(str(form.get("csrf", "")), login.csrf):
                    log.warning("dashboard: %s posted without a valid CSRF token", login.user)
                    return forbidden()
            return await page(request, login)

        return guarded

    # ------------------------------------------------------------ the login form

    def login_csrf(self, request: web.Request) -> tuple[str, bool]:
        """The login form's CSRF token, and whether it is new (to be set as a cookie)."""
        token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if 20 <= len(token) <= 100 and token.isascii():
            return token, False
        return secrets.token_urlsafe(32), True

    def _keys(self, name: str, address: str) -> tuple[str, str]:
        # Hashed: a key never holds a typed name (or a password typed into the name box).
        name_key = hashlib.sha256(name.casefold().encode("utf-8", "surrogatepass")).hexdigest()
        return f"dashboard:login-fail:name:{name_key[:32]}", f"dashboard:login-fail:addr:{address}"

    def client(self, request: web.Request) -> str:
        return client_address(request, self.web.trusted_proxies)

    async def reserve(self, name: str, address: str) -> bool:
        """Take a failure slot for this attempt from the name's and the address's counts
        before the password is checked; False (slots given back) when either is used up.
        The key-value store's errors pass to the caller."""
        window = self.config.login_window_minutes * 60
        counts = [
            await self.services.kv.incr(key, 1, ttl=window) for key in self._keys(name, address)
        ]
        if all(count <= self.config.login_attempts for count in counts):
            return True
        await self.release(name, address)
        return False

    async def release(self, name: str, address: str) -> None:
        """Give back the slots `reserve` took (the password was right, or the attempt was
        refused without a check)."""
        window = self.config.login_window_minutes * 60
        for key in self._keys(name, address):
            await self.services.kv.incr(key, -1, ttl=window)

    async def check(self, name: str, password: str) -> bool:
        """The name and password are those of an enabled user (and her login is noted)."""
        # No user name holds a NUL (PostgreSQL could not even look it up).
        user = await store.get_user(name) if name and "\x00" not in name else None
        usable = user is not None and not user.disabled
        async with self.verifying:
            ok, rehashed = await asyncio.to_thread(
                users.check_password,
                password,
                user.password_hash if user is not None and usable else None,
            )
        if not (ok and user is not None):
            return False
        await store.logged_in(user.name, rehashed, self.services.clock.now())
        return True
