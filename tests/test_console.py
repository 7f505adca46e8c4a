"""The web console over plain HTTP: what each page shows, escaping, the
security headers, CSRF, the alias compare-and-swap, confirmation of
protected aliases, sign-in and sign-out, and authorisation as the token's
principal. The browser tests are in tests/test_console_browser.py.

Servers are the real one (server.start) with the side port on a free
loopback port; the console is reached over HTTP like a browser would.
"""

from __future__ import annotations

import datetime
import hashlib
import html
import http.client
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.auth import AuthServer, start_auth_server
from support.browser import WebClient, console_server, console_url, model_path
from support.waiting import next_millisecond, wait_until

from registry_client import Dataset, Lineage, PermissionDenied, RegistryClient
from registry_server.config import ServerConfig
from registry_server.console.web import CSP
from registry_server.events.settings import WatchSettings
from registry_server.server import RunningServer, start

HOSTILE_NAMES = [
    '<script>alert("x")<\\script>',
    '"><img src=x onerror=alert(1)>',
    "a & b ' \" % ? # ;",
    "{{ 7*7 }} {% raw %}",
]


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with console_server(tmp_path_factory.mktemp("console")) as running:
        yield running


@pytest.fixture(scope="module")
def grpc(open_server: RunningServer) -> Iterator[RegistryClient]:
    with RegistryClient(f"127.0.0.1:{open_server.port}", actor="test-suite") as made:
        yield made


@pytest.fixture
def web(open_server: RunningServer) -> WebClient:
    return WebClient(console_url(open_server))


def _ready_version(grpc: RegistryClient, name: str, folder: Path, content: bytes) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.bin").write_bytes(content)
    (folder / "conf").mkdir(exist_ok=True)
    (folder / "conf" / "params.json").write_text('{"depth": 3}')
    return grpc.log_model_version(name, folder, run_id="run-1").version


# ------------------------------------------------------------------ pages


def test_the_model_list_shows_latest_production_aliases_and_escapes_names(
    grpc: RegistryClient, web: WebClient, model_name: str
) -> None:
    for hostile in HOSTILE_NAMES:
        grpc.create_registered_model(f"{model_name}-{hostile}")
    grpc.create_registered_model(model_name)
    grpc.create_model_version(model_name, source="s3://b/1")
    grpc.create_model_version(model_name, source="s3://b/2")
    grpc.transition_model_version_stage(model_name, 1, "Production")
    grpc.set_registered_model_alias(model_name, "champion", 2)

    page = web.get("/?q=" + urllib.parse.quote(model_name))
    assert page.status == 200
    assert page.headers["Content-Security-Policy"] == CSP
    assert "unsafe-inline" not in CSP
    assert page.headers["X-Frame-Options"] == "DENY"
    assert f'href="{model_path(model_name)}/versions/1">v1</a>' in page.text  # Production
    assert "@champion → v2" in page.text
    for hostile in HOSTILE_NAMES[:3]:
        assert f"{model_name}-{hostile}" not in page.text  # never raw
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;\\script&gt;" in page.text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "a &amp; b &#39; &#34; % ? # ;" in page.text
    assert "{{ 7*7 }} {% raw %}" in page.text  # text, not a template
    assert "<script>" not in page.text.replace('<script src="/static/console.js" defer>', "")


def test_search_takes_a_word_or_the_filter_grammar_and_shows_filter_errors(
    grpc: RegistryClient, web: WebClient, model_name: str
) -> None:
    grpc.create_registered_model(f"{model_name}-alpha", tags={"team": "risk"})
    grpc.create_registered_model(f"{model_name}-beta", tags={"team": "growth"})

    word = web.get("/?q=" + urllib.parse.quote(f"{model_name}-ALP"))
    assert f"{model_name}-alpha" in word.text and f"{model_name}-beta" not in word.text

    query = f"name LIKE '{model_name}%' AND tags.team = 'growth'"
    found = web.get("/?q=" + urllib.parse.quote(query))
    assert f"{model_name}-beta" in found.text and f"{model_name}-alpha" not in found.text

    bad = web.get("/?q=" + urllib.parse.quote("name = "))
    assert bad.status == 400
    assert 'id="search-error"' in bad.text and "filter:" in bad.text

    newest = web.get("/?" + urllib.parse.urlencode({"q": model_name, "sort": "creation_timestamp"}))
    assert newest.text.index(f"{model_name}-beta") < newest.text.index(f"{model_name}-alpha")


def test_a_word_with_like_wildcards_is_searched_literally(
    grpc: RegistryClient, web: WebClient, model_name: str
) -> None:
    grpc.create_registered_model(f"{model_name}-x_y")
    grpc.create_registered_model(f"{model_name}-xzy")
    page = web.get("/?q=" + urllib.parse.quote(f"{model_name}-x_y"))
    assert f"{model_name}-x_y" in page.text and f"{model_name}-xzy" not in page.text


def test_the_model_page_renders_markdown_safely_and_pages_versions(
    grpc: RegistryClient, web: WebClient, model_name: str
) -> None:
    description = (
        "# Fraud model\n\n**bold** <script>alert(1)</script> "
        "[bad](javascript:alert(1)) [good](https://example.com/x)"
    )
    grpc.create_registered_model(model_name, description=description, tags={"team": "<b>r</b>"})
    for _ in range(55):
        grpc.create_model_version(model_name, source="s3://b/m", run_id="run-<i>")
    page = web.get(model_path(model_name))
    assert page.status == 200
    assert "<h1>Fraud model</h1>" in page.text and "<strong>bold</strong>" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert 'href="javascript:' not in page.text
    assert '<a href="https://example.com/x">good</a>' in page.text
    assert "&lt;b&gt;r&lt;/b&gt;" in page.text and "run-&lt;i&gt;" in page.text
    assert ">v55</a>" in page.text and ">v6</a>" in page.text and ">v5</a>" not in page.text
    older = page.text.split('rel="next" href="')[1].split('"')[0]
    second = web.get(older.replace("&amp;", "&"))
    rows = second.text.split('id="versions"')[1]
    assert '/versions/5">v5</a>' in rows and '/versions/55">v55</a>' not in rows


def test_the_version_page_shows_lineage_files_downloads_and_resolving_uris(
    grpc: RegistryClient, web: WebClient, model_name: str, tmp_path: Path
) -> None:
    grpc.create_registered_model(model_name)
    content = b"weights" * 1000
    parent = _ready_version(grpc, model_name, tmp_path / "a", content)
    grpc.create_model_version(
        model_name,
        source="s3://b/c",
        lineage=Lineage(
            run_id="run-2",
            run_link="https://ci.example/runs/2",
            experiment_id="exp-7",
            code_version="abc123",
            datasets=(Dataset(name="train", digest="sha256:d1", source_uri="s3://data/t"),),
            parent_model_uri=f"models:/{model_name}/{parent}",
        ),
    )
    grpc.set_registered_model_alias(model_name, "champion", parent)
    grpc.transition_model_version_stage(model_name, parent, "Staging")

    page = web.get(f"{model_path(model_name)}/versions/{parent}")
    assert page.status == 200
    assert "model.bin" in page.text and "conf/params.json" in page.text
    assert hashlib.sha256(content).hexdigest() in page.text
    quoted = urllib.parse.quote(model_name, safe="")
    for uri in (
        f"models:/{model_name}/{parent}",
        f"models:/{model_name}@champion",
        f"models:/{model_name}/Staging",
    ):
        assert f'<code class="uri">{uri}</code>' in page.text
    assert f"models:/{model_name}/latest</code>" not in page.text  # v2 is latest
    assert f"{model_name} v2</a>" in page.text  # the child in the graph
    link = f"/models/{quoted}/versions/{parent}/files/model.bin"
    assert link in page.text  # a local folder has no presigned URLs
    download = web.get(link)
    assert download.status == 200 and download.text.encode() == content
    assert download.headers["X-Checksum-SHA256"] == hashlib.sha256(content).hexdigest()

    child_page = web.get(f"{model_path(model_name)}/versions/2")
    assert 'href="https://ci.example/runs/2"' in child_page.text
    assert "exp-7" in child_page.text and "sha256:d1" in child_page.text
    assert f'/models/{quoted}/versions/{parent}">{model_name} v{parent}</a>' in child_page.text


def test_the_history_page_filters_and_shows_the_state_as_of_a_moment(
    grpc: RegistryClient, web: WebClient, model_name: str
) -> None:
    grpc.create_registered_model(model_name)
    grpc.create_model_version(model_name, source="s3://b/1")
    grpc.create_model_version(model_name, source="s3://b/2")
    grpc.set_registered_model_alias(model_name, "champion", 1)
    next_millisecond()
    grpc.set_registered_model_alias(model_name, "champion", 2)
    first_move = grpc.list_model_events(model_name, kinds=["alias_set"]).events[0].timestamp

    page = web.get(f"{model_path(model_name)}/history")
    assert page.status == 200
    assert page.text.count('<li class="event') == 5  # created, 2 versions, 2 moves
    aliases = web.get(f"{model_path(model_name)}/history?kind=alias_set")
    assert aliases.text.count('<li class="event') == 2
    assert "&#34;version&#34;: 1" in aliases.text  # before -> after, as JSON
    moment = datetime.datetime.fromtimestamp(first_move / 1000, tz=datetime.UTC)
    as_of = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]  # the picker's format, with ms
    state = web.get(f"{model_path(model_name)}/history?as_of={as_of}")
    section = state.text.split('id="state"')[1].split("</section>")[0]
    assert "@champion" in section and "v1" in section and "v2" not in section.split("Stages")[0]


def test_a_missing_model_is_a_404_page(web: WebClient) -> None:
    page = web.get("/models/no-such-model-anywhere")
    assert page.status == 404 and "no-such-model-anywhere" in page.text
    assert web.get("/nothing/here").status == 404


# ---------------------------------------------------------------- actions


def _move(web: WebClient, name: str, alias: str, version: int, expected: int, **extra: str):
    token = web.get(model_path(name)).csrf()
    fields = {"csrf": token, "alias": alias, "version": str(version), "expected": str(expected)}
    return web.post(f"{model_path(name)}/aliases", {**fields, **extra})


def test_moving_an_alias_is_a_compare_and_swap_on_the_version_the_page_showed(
    grpc: RegistryClient, web: WebClient, model_name: str
) -> None:
    grpc.create_registered_model(model_name)
    for _ in range(3):
        grpc.create_model_version(model_name, source="s3://b/x")
    grpc.set_registered_model_alias(model_name, "champion", 1)

    moved = _move(web, model_name, "champion", 2, expected=1)
    assert moved.status == 303 and moved.location.endswith("?done=alias")
    assert grpc.get_model_version_by_alias(model_name, "champion").version == 2

    stale = _move(web, model_name, "champion", 3, expected=1)  # the page showed v1
    assert stale.status == 409
    assert "Conflict: nothing was changed." in stale.text
    assert "points at version 2, expected it to point at version 1" in stale.text
    assert grpc.get_model_version_by_alias(model_name, "champion").version == 2

    created = _move(web, model_name, "challenger", 3, expected=0)
    assert created.status == 303
    again = _move(web, model_name, "challenger", 1, expected=0)
    assert again.status == 409 and "expected it not to exist" in again.text


def test_a_protected_alias_and_stage_ask_for_confirmation_first(
    grpc: RegistryClient, web: WebClient, model_name: str
) -> None:
    grpc.create_registered_model(model_name)
    grpc.create_model_version(model_name, source="s3://b/x")
    grpc.create_model_version(model_name, source="s3://b/y")
    grpc.set_registered_model_alias(model_name, "prod", 1)
    grpc.set_model_protection(
        model_name, protected_aliases=["prod"], protected_stages=["Production"]
    )

    asked = _move(web, model_name, "prod", 2, expected=1)
    assert asked.status == 200 and "protected alias" in asked.text
    assert grpc.get_model_version_by_alias(model_name, "prod").version == 1
    confirmed = web.post(
        f"{model_path(model_name)}/aliases",
        {"csrf": asked.csrf(), "alias": "prod", "version": "2", "expected": "1", "confirm": "yes"},
    )
    assert confirmed.status == 303
    assert grpc.get_model_version_by_alias(model_name, "prod").version == 2

    stage_path = f"{model_path(model_name)}/versions/2/stage"
    token = web.get(f"{model_path(model_name)}/versions/2").csrf()
    asked = web.post(stage_path, {"csrf": token, "stage": "production"})
    assert asked.status == 200 and "Production is protected" in asked.text
    assert grpc.get_model_version(model_name, 2).current_stage == "None"
    done = web.post(stage_path, {"csrf": token, "stage": "production", "confirm": "yes"})
    assert done.status == 303
    assert grpc.get_model_version(model_name, 2).current_stage == "Production"


def test_descriptions_and_tags_are_edited_through_the_domain(
    grpc: RegistryClient, web: WebClient, model_name: str
) -> None:
    grpc.create_registered_model(model_name)
    grpc.create_model_version(model_name, source="s3://b/x")
    token = web.get(model_path(model_name)).csrf()
    base = model_path(model_name)
    assert (
        web.post(f"{base}/description", {"csrf": token, "description": "new *text*"}).status == 303
    )
    assert web.post(f"{base}/tags", {"csrf": token, "key": "team", "value": "<risk>"}).status == 303
    assert (
        web.post(f"{base}/versions/1/tags", {"csrf": token, "key": "k", "value": "v"}).status == 303
    )
    assert (
        web.post(
            f"{base}/versions/1/description", {"csrf": token, "description": "v1 notes"}
        ).status
        == 303
    )
    model = grpc.get_registered_model(model_name)
    assert model.description == "new *text*" and model.tags == {"team": "<risk>"}
    version = grpc.get_model_version(model_name, 1)
    assert version.tags == {"k": "v"} and version.description == "v1 notes"
    bad = web.post(f"{base}/tags", {"csrf": token, "key": "", "value": "x"})
    assert bad.status == 400 and 'role="alert"' in bad.text
    removed = web.post(f"{base}/tags", {"csrf": token, "key": "team", "delete": "yes"})
    assert removed.status == 303 and grpc.get_registered_model(model_name).tags == {}
    events = grpc.list_model_events(model_name).events
    assert {e.actor for e in events} == {"test-suite", "console"}


def test_a_post_without_the_csrf_token_or_from_another_origin_changes_nothing(
    grpc: RegistryClient, web: WebClient, model_name: str
) -> None:
    grpc.create_registered_model(model_name, description="before")
    token = web.get(model_path(model_name)).csrf()
    path = f"{model_path(model_name)}/description"
    assert web.post(path, {"description": "after"}).status == 403
    assert web.post(path, {"csrf": "x" * 43, "description": "after"}).status == 403
    foreign = web.post(
        path, {"csrf": token, "description": "after"}, {"Origin": "https://evil.example"}
    )
    assert foreign.status == 403 and "another site" in foreign.text
    fresh = WebClient(web.base)  # another browser: no cookie, a copied token
    assert fresh.post(path, {"csrf": token, "description": "after"}).status == 403
    assert grpc.get_registered_model(model_name).description == "before"
    ok = web.post(path, {"csrf": token, "description": "after"}, {"Origin": web.base})
    assert ok.status == 303


def test_the_csrf_and_session_cookies_are_httponly_and_samesite_strict(web: WebClient) -> None:
    page = web.get("/")
    header = page.headers["Set-Cookie"]
    assert "mr_csrf=" in header and "HttpOnly" in header and "SameSite=strict" in header
    assert "Secure" not in header  # loopback: no TLS needed


# --------------------------------------------------------- authentication


@pytest.fixture(scope="module")
def auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    folder = tmp_path_factory.mktemp("console-auth")
    running = start_auth_server(
        f"sqlite:///{folder / 'registry.db'}", folder / "artifacts", http_listen="127.0.0.1:0"
    )
    server = AuthServer(running, "sqlite", folder)
    server.admin_secret = server.token("console-admin", "admin")
    yield server
    server.close()


def _sign_in(web: WebClient, secret: str, next_path: str = "/"):
    form = web.get("/login?next=" + urllib.parse.quote(next_path))
    return web.post("/login", {"csrf": form.csrf(), "token": secret, "next": next_path})


def _auth_web(auth: AuthServer) -> WebClient:
    return WebClient(console_url(auth.running))


def test_with_authentication_nothing_is_shown_before_signing_in(auth: AuthServer) -> None:
    admin = auth.client(auth.admin_secret)
    admin.create_registered_model("secret-model")
    web = _auth_web(auth)
    for path in (
        "/",
        "/models/secret-model",
        "/models/secret-model/history",
        "/models/secret-model/versions/1",
        "/?q=secret",
    ):
        page = web.get(path)
        assert page.status == 303 and page.location.startswith("/login?next=")
        assert "secret-model" not in page.text
    assert web.get("/live").status == 401
    login = web.get("/login")
    assert login.status == 200 and "secret-model" not in login.text
    assert 'type="password"' in login.text


def test_signing_in_exchanges_the_token_for_a_session_that_signing_out_revokes(
    auth: AuthServer,
) -> None:
    web = _auth_web(auth)
    refused = _sign_in(web, "mrt_not-a-token")
    assert refused.status == 401 and "not accepted" in refused.text

    signed = _sign_in(web, auth.token("alice", "reader"), "/models/x?y=1")
    assert signed.status == 303 and signed.location == "/models/x?y=1"
    header = signed.headers["Set-Cookie"]
    assert "mr_session=" in header and "HttpOnly" in header and "SameSite=strict" in header
    assert "Max-Age=28800" in header
    session = web.cookie("mr_session")
    assert session is not None and not session.value.startswith("mrt_")  # not the token
    home = web.get("/")
    assert home.status == 200 and "alice" in home.text and "reader" in home.text

    stolen = WebClient(web.base)  # a copy of the cookie, kept after sign-out
    stolen.cookies.set_cookie(session)
    assert stolen.get("/").status == 200
    out = web.post("/logout", {"csrf": home.csrf()})
    assert out.status == 303 and out.location == "/login"
    assert web.get("/").status == 303
    assert stolen.get("/").status == 303  # the session is gone server-side


def test_a_login_redirect_never_leaves_the_site(auth: AuthServer) -> None:
    web = _auth_web(auth)
    for target in (
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "/\t/evil.example",
    ):
        signed = _sign_in(web, auth.token("bob", "reader"), target)
        assert signed.status == 303 and signed.location == "/"


def test_revoking_the_token_ends_its_console_sessions(auth: AuthServer) -> None:
    web = _auth_web(auth)
    token_id, secret = auth.token_with_id("carol", "reader")
    assert _sign_in(web, secret).status == 303
    assert web.get("/").status == 200
    auth.client(auth.admin_secret).revoke_access_token(token_id)
    assert web.get("/").status == 303


def test_pages_and_actions_are_authorised_as_the_tokens_principal(auth: AuthServer) -> None:
    admin = auth.client(auth.admin_secret)
    admin.create_registered_model("guarded")
    admin.create_model_version("guarded", source="s3://b/x")
    admin.create_model_version("guarded", source="s3://b/y")
    admin.set_registered_model_alias("guarded", "champion", 1)
    admin.create_registered_model("hidden-from-dave")

    dave = auth.token("dave", "none")
    admin.set_model_grant("guarded", "dave", "reader")
    web = _auth_web(auth)
    assert _sign_in(web, dave).status == 303
    home = web.get("/")
    assert "guarded" in home.text and "hidden-from-dave" not in home.text
    assert web.get("/models/hidden-from-dave").status == 404

    refused = _move(web, "guarded", "champion", 2, expected=1)
    assert refused.status == 403 and "dave" in refused.text
    assert admin.get_model_version_by_alias("guarded", "champion").version == 1
    denials = [e for e in admin.list_model_events("guarded").events if e.kind == "access_denied"]
    assert denials and denials[-1].actor == "dave"

    admin.set_model_grant("guarded", "dave", "writer")
    moved = _move(web, "guarded", "champion", 2, expected=1)
    assert moved.status == 303
    event = [e for e in admin.list_model_events("guarded").events if e.kind == "alias_set"][-1]
    assert event.actor == "dave"
    with pytest.raises(PermissionDenied):
        auth.client(dave).delete_registered_model("guarded")


# ---------------------------------------------------------------- timing


@pytest.mark.slow
def test_the_page_of_a_model_with_1000_versions_is_paged(
    grpc: RegistryClient, web: WebClient, model_name: str
) -> None:
    """Prints the server time of the model page (not asserted: no timing
    assertions); bench/console_page.py measures it on PostgreSQL."""
    grpc.create_registered_model(model_name)
    for _ in range(1000):
        grpc.create_model_version(model_name, source="s3://b/x")
    web.get(model_path(model_name))  # warm
    took = []
    for _ in range(10):
        page = web.get(model_path(model_name))
        took.append(float(page.headers["Server-Timing"].split("dur=")[1]))
    print(f"\nmodel page with 1,000 versions: median {sorted(took)[5]:.1f} ms server time (SQLite)")
    assert page.text.count('<th scope="row"><a href=') == 50


# ------------------------------------------------------- across replicas


def _outside_address() -> str | None:
    """This machine's first non-loopback IPv4 address, if it has one."""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent
            address = str(probe.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") else address


@pytest.mark.slow
def test_a_session_works_on_every_replica_and_signing_out_on_one_ends_it_on_all(
    pg_database_url: str, tmp_path: Path
) -> None:
    a = AuthServer(
        start_auth_server(pg_database_url, tmp_path / "a", http_listen="0.0.0.0:0"),
        "postgresql",
        tmp_path,
    )
    b = AuthServer(
        start_auth_server(pg_database_url, tmp_path / "b", http_listen="127.0.0.1:0"),
        "postgresql",
        tmp_path,
    )
    try:
        assert a.running.http is not None and b.running.http is not None
        on_a = WebClient(f"http://127.0.0.1:{a.running.http.port}")
        assert _sign_in(on_a, a.token("frank", "reader")).status == 303
        on_b = WebClient(f"http://127.0.0.1:{b.running.http.port}")
        session = on_a.cookie("mr_session")
        assert session is not None
        on_b.cookies.set_cookie(session)
        page = on_b.get("/")
        assert page.status == 200 and "frank" in page.text  # B accepts A's session
        assert on_b.post("/logout", {"csrf": "x" * 43}).status == 403  # B's form, not A's
        on_b.cookies.set_cookie(on_a.cookie("mr_csrf"))  # type: ignore[arg-type]
        assert on_b.post("/logout", {"csrf": on_a.get("/").csrf()}).status == 303
        assert on_a.get("/").status == 303  # signed out on B: gone on A too

        outside = _outside_address()
        if outside is not None:  # reached through a non-loopback address
            remote = WebClient(f"http://{outside}:{a.running.http.port}")
            form = remote.get("/login")
            assert "Secure" in form.headers["Set-Cookie"]
            csrf_cookie = next(c for c in remote.cookies if c.name == "mr_csrf")
            fields = {"csrf": form.csrf(), "token": a.token("gina", "reader"), "next": "/"}
            # Over plain http a client keeps the Secure cookie to itself: no sign-in.
            refused = remote.post("/login", fields)
            assert refused.status == 403 and "needs https" in refused.text
            # As through a TLS-terminating proxy, which hands the cookie on.
            signed = remote.post("/login", fields, {"Cookie": f"mr_csrf={csrf_cookie.value}"})
            assert signed.status == 303 and "Secure" in signed.headers["Set-Cookie"]
    finally:
        a.close()
        b.close()


# ------------------------------------------------------------------ live


def _open_live(base: str, name: str) -> tuple[Any, Any]:
    """A /live stream as a browser's EventSource opens it (connection, response)."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("GET", "/live?name=" + urllib.parse.quote(name))
    return connection, connection.getresponse()


def test_live_events_arrive_as_server_sent_events_and_a_closed_stream_frees_its_slot(
    tmp_path: Path, model_name: str
) -> None:
    # One watch stream per principal: a second only opens once the first is freed.
    with console_server(tmp_path, watch=WatchSettings(per_principal=1)) as running:
        base = console_url(running)
        with RegistryClient(f"127.0.0.1:{running.port}", actor="deployer") as grpc:
            grpc.create_registered_model(model_name)
            connection, response = _open_live(base, model_name)
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
            assert response.readline() == b"retry: 3000\n"
            grpc.create_model_version(model_name, source="s3://b/1")
            data = b""
            for _ in range(20):  # a heartbeat (the stream's first cursor) comes first
                data = response.readline()
                if data.startswith(b"data: "):
                    break
            event = json.loads(data[len(b"data: ") :])
            assert event["kind"] == "version_created" and event["model"] == model_name
            assert event["version"] == 1 and event["actor"] == "deployer"

            busy_connection, busy = _open_live(base, model_name)
            assert busy.status == 204  # the one slot is taken: EventSource stops
            busy_connection.close()
            connection.close()  # the tab is closed
            wait_until(
                lambda: _open_live(base, model_name)[1].status == 200,
                timeout=15,
                what="the closed stream's slot was freed",
            )


@pytest.mark.slow
def test_on_s3_the_version_page_links_presigned_urls(
    pg_database_url: str, pg_artifact_store: str, tmp_path: Path, model_name: str
) -> None:
    running = start(
        ServerConfig(
            database_url=pg_database_url,
            artifact_store=pg_artifact_store,
            listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
        )
    )
    try:
        with RegistryClient(f"127.0.0.1:{running.port}", actor="test-suite") as grpc:
            grpc.create_registered_model(model_name)
            content = b"s3 weights" * 300
            number = _ready_version(grpc, model_name, tmp_path / "files", content)
        page = WebClient(console_url(running)).get(f"{model_path(model_name)}/versions/{number}")
        links = re.findall(r'<a href="([^"]+)" rel="noreferrer" class="download">', page.text)
        assert len(links) == 2 and all("X-Amz-Signature" in link for link in links)
        weights = next(html.unescape(link) for link in links if "model.bin" in link)
        with urllib.request.urlopen(weights, timeout=30) as response:  # straight from S3
            assert response.read() == content
        assert "/files/model.bin" not in page.text
    finally:
        running.stop(grace=1)


def test_an_action_on_a_model_the_viewer_cannot_read_is_a_404_and_recorded(
    auth: AuthServer,
) -> None:
    admin = auth.client(auth.admin_secret)
    admin.create_registered_model("private-to-admins", description="before")
    web = _auth_web(auth)
    assert _sign_in(web, auth.token("henry", "none")).status == 303
    token = web.get("/").csrf()
    refused = web.post(
        "/models/private-to-admins/description", {"csrf": token, "description": "after"}
    )
    assert refused.status == 404 and "private-to-admins" in refused.text
    assert admin.get_registered_model("private-to-admins").description == "before"
    denials = [
        e for e in admin.list_model_events("private-to-admins").events if e.kind == "access_denied"
    ]
    assert [e.actor for e in denials] == ["henry"]


# ---------------------------------------------------------- hostile input


@pytest.mark.slow
def test_hostile_paths_queries_and_forms_never_break_the_console(
    grpc: RegistryClient, web: WebClient, model_name: str
) -> None:
    """Every page and action, with hostile text where a name, a query
    parameter or a form field goes: a 4xx or a page, never a 500, and the
    text never comes back unescaped."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from support.hostile import hostile_text

    grpc.create_registered_model(model_name)
    grpc.create_model_version(model_name, source="s3://b/1")
    base = model_path(model_name)
    token = web.get(base).csrf()
    pages = [
        "/?q={}",
        "/?sort={}&dir={}",
        "/?page={}",
        "/models/{}",
        "/models/{}/history",
        "/models/{}/versions/1",
        "/models/{}/versions/1/files/{}",
        base + "?page={}",
        base + "/history?kind={}&alias={}&after={}&as_of={}",
        "/login?next={}",
    ]
    actions = [
        (base + "/aliases", ("alias", "version", "expected", "delete", "confirm")),
        (base + "/description", ("description",)),
        (base + "/tags", ("key", "value", "delete")),
        (base + "/versions/1/stage", ("stage", "archive", "confirm")),
        (base + "/versions/1/tags", ("key", "value")),
    ]

    def quoted(value: str) -> str:
        # The URL's length is the HTTP server's business (h11 refuses long
        # request lines): 1,000 characters a value reach the console.
        return urllib.parse.quote(value[:1000], safe="")

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        page=st.sampled_from(pages),
        action=st.sampled_from(actions),
        values=st.lists(hostile_text(), min_size=5, max_size=5),
    )
    def check(page: str, action: tuple[str, tuple[str, ...]], values: list[str]) -> None:
        shown = web.get(page.format(*(quoted(v) for v in values)))
        assert shown.status < 500, (page, values, shown.text[:300])
        path, fields = action
        form = {"csrf": token, **dict(zip(fields, values, strict=False))}
        done = web.post(path, form)
        assert done.status < 500, (path, form, done.text[:300])
        for value in values:
            if "<" in value and len(value) > 3:
                assert value not in shown.text and value not in done.text

    check()
