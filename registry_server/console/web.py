"""What every console request shares: the viewer, CSRF, rendering, errors.

- The viewer: on a server without authentication, the Authenticator's
  unauthenticated caller (as a gRPC call without a token); with
  authentication, the signed-in session's token (sessions.py), else nobody,
  and pages send the browser to /login.
- CSRF: double submit. A random `mr_csrf` cookie (HttpOnly, SameSite=Strict)
  and the same value in a hidden field of every form; a POST whose field
  does not match, or whose Origin is another site, is refused before any
  domain call.
- Output: Jinja2 with autoescape on for every template; Markdown is rendered
  with raw HTML disabled (markdown-it-py), links limited to http(s)/mailto.
- Headers: a Content-Security-Policy with no inline script or style and
  nothing from another origin; no framing; no referrer to other sites.
"""

from __future__ import annotations

import datetime
import hmac
import ipaddress
import json
import secrets
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from registry_server.console.sessions import SessionService
from registry_server.domain.access import AccessControl, Caller
from registry_server.domain.tokens import Authenticator

SESSION_COOKIE = "mr_session"
CSRF_COOKIE = "mr_csrf"
CSRF_FIELD = "csrf"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

# gRPC status names (domain/errors.py) as HTTP statuses.
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "FAILED_PRECONDITION": 409,
    "OUT_OF_RANGE": 400,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "UNAVAILABLE": 503,
    "RESOURCE_EXHAUSTED": 429,
}

# What a page says after a successful action (?done=...): fixed texts, so a
# link cannot make the console say something else.
DONE = {
    "alias": "Alias moved.",
    "alias-deleted": "Alias removed.",
    "stage": "Stage changed.",
    "description": "Description saved.",
    "tag": "Tag saved.",
    "tag-deleted": "Tag removed.",
}

_HERE = Path(__file__).parent


def _markdown() -> MarkdownIt:
    # "commonmark" with html off: a description's <script> is shown as text.
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    md.validateLink = _safe_link  # type: ignore[method-assign]
    return md


def _safe_link(url: str) -> bool:
    scheme = urllib.parse.urlsplit(url.strip()).scheme.lower()
    return scheme in ("", "http", "https", "mailto")


_MD = _markdown()


def markdown(text: str) -> Markup:
    """Markdown as HTML: raw HTML is escaped, javascript: links are dropped."""
    return Markup(_MD.render(text or ""))


def path_part(value: object) -> str:
    """One URL path segment (a model name may hold ?, #, %, spaces)."""
    return urllib.parse.quote(str(value), safe="")


def timestamp(ms: int | None) -> str:
    if not ms:
        return "—"
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_timestamp(ms: int | None) -> str:
    if not ms:
        return ""
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def compact_json(value: Any) -> str:
    if not value:
        return ""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def size(value: int) -> str:
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"  # pragma: no cover


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        # Every template escapes, whatever its name.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        q=path_part,
        ts=timestamp,
        iso=iso_timestamp,
        js=compact_json,
        md=markdown,
        size=size,
    )
    return env


TEMPLATES = _environment()


@dataclass
class ConsoleContext:
    """The services the console calls and the settings it reads."""

    authenticator: Authenticator
    sessions: SessionService
    access: AccessControl
    require_auth: bool


def is_loopback(request: Request) -> bool:
    server = request.scope.get("server")
    host = server[0] if server else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        # Browsers keep a Secure cookie only over https: required outside
        # loopback, where the console is reached through TLS.
        secure=not is_loopback(request),
    )


def csrf_token(request: Request) -> str:
    """The request's CSRF token: the cookie's, or a new one set on the response."""
    found = request.cookies.get(CSRF_COOKIE, "")
    if 20 <= len(found) <= 100:
        return found
    made = getattr(request.state, "new_csrf", None)
    if made is None:
        made = secrets.token_urlsafe(32)
        request.state.new_csrf = made
    return str(made)


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:  # older browsers; SameSite=Strict still holds the cookie back
        return True
    host = request.headers.get("host", "")
    parsed = urllib.parse.urlsplit(origin)
    return parsed.netloc == host


MAX_FORM_BYTES = 256 * 1024


async def read_form(request: Request) -> dict[str, str] | None:
    """An urlencoded form body (every console form is one), bounded; None
    when it is something else or too large. Repeated fields: the first."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False
        )
    except UnicodeDecodeError:
        return None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


async def check_csrf(request: Request) -> Mapping[str, Any] | None:
    """The form, when it carries this browser's CSRF token and comes from
    this site; None otherwise (the caller answers 403)."""
    if not same_origin(request):
        return None
    form = await read_form(request)
    if form is None:
        return None
    sent = form.get(CSRF_FIELD)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not isinstance(sent, str) or not cookie or not hmac.compare_digest(sent, cookie):
        return None
    return form


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    console: ConsoleContext = request.app.state.console
    caller: Caller | None = getattr(request.state, "caller", None)
    values = {
        "caller": caller,
        "require_auth": console.require_auth,
        "csrf": csrf_token(request),
        "path": request.url.path,
        "done": DONE.get(request.query_params.get("done", ""), ""),
        "problem": "",
        "conflict": False,
        "live_name": "",
        "live": False,
        "title": "",
        **context,
    }
    body = TEMPLATES.get_template(template).render(values)
    response = HTMLResponse(body, status_code=status_code)
    new = getattr(request.state, "new_csrf", None)
    if new is not None:
        set_cookie(request, response, CSRF_COOKIE, str(new), None)
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def viewer(request: Request) -> Caller | None:
    """Who is looking: the unauthenticated caller on an open server, the
    session's caller with authentication on, else None."""
    console: ConsoleContext = request.app.state.console
    if not console.require_auth:
        return console.authenticator.authenticate(None, "console")
    return console.sessions.caller(request.cookies.get(SESSION_COOKIE, ""))


def local_next(value: str | None) -> str:
    """A `next` target only if it is a path on this site (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):  # browsers drop tabs, newlines
        return "/"
    return value
