"""Sign in and out (only when the server requires authentication).

The access token is sent once, in a POST body over the side port, and
exchanged for a session cookie (sessions.py); it is never stored in the
browser. Signing out deletes the session row, so the cookie is dead on every
replica even if the browser kept a copy.
"""

from __future__ import annotations

import urllib.parse

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from registry_server.console.sessions import SESSION_SECONDS
from registry_server.console.web import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    ConsoleContext,
    check_csrf,
    is_loopback,
    local_next,
    redirect,
    render,
    set_cookie,
    viewer,
)
from registry_server.domain.access import Caller
from registry_server.domain.errors import Unauthenticated

SECURE_ONLY = (
    " Outside loopback, signing in needs https: the console's cookies are Secure,"
    " so a browser does not send them back over plain http."
)
FORM_EXPIRED = "This form has expired or was sent from another site. Reload the page and try again."


def sign_in_first(request: Request) -> Response:
    """Where a page sends a browser that has not signed in."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect("/login?" + urllib.parse.urlencode({"next": target}))


def require_viewer(request: Request) -> Caller | Response:
    """The viewer (also kept on request.state for the templates), or the
    redirect to the sign-in page."""
    caller = viewer(request)
    if caller is None:
        return sign_in_first(request)
    request.state.caller = caller
    return caller


def login_form(request: Request) -> Response:
    console: ConsoleContext = request.app.state.console
    if not console.require_auth:
        return redirect("/")
    return render(
        request,
        "login.html",
        {"title": "Sign in", "next": local_next(request.query_params.get("next")), "error": ""},
    )


async def login(request: Request) -> Response:
    console: ConsoleContext = request.app.state.console
    if not console.require_auth:
        return redirect("/")
    form = await check_csrf(request)
    if form is None:
        error = FORM_EXPIRED if is_loopback(request) else FORM_EXPIRED + SECURE_ONLY
        return render(request, "login.html", {"title": "Sign in", "next": "/", "error": error}, 403)
    target = local_next(str(form.get("next") or "/"))
    secret = form.get("token")
    if not isinstance(secret, str) or not secret.strip():
        return render(
            request,
            "login.html",
            {"title": "Sign in", "next": target, "error": "Enter an access token."},
            400,
        )
    try:
        session = await run_in_threadpool(console.sessions.sign_in, secret)
    except Unauthenticated as refused:
        message = refused.message.removeprefix("authorization: ")
        return render(
            request,
            "login.html",
            {
                "title": "Sign in",
                "next": target,
                "error": f"That token was not accepted: {message}.",
            },
            401,
        )
    response = redirect(target)
    set_cookie(request, response, SESSION_COOKIE, session.id, SESSION_SECONDS)
    return response


async def logout(request: Request) -> Response:
    console: ConsoleContext = request.app.state.console
    form = await check_csrf(request)
    if form is None:
        return render(request, "error.html", {"title": "Refused", "message": FORM_EXPIRED}, 403)
    await run_in_threadpool(console.sessions.sign_out, request.cookies.get(SESSION_COOKIE, ""))
    response = redirect("/login" if console.require_auth else "/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response
