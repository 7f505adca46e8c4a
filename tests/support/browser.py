"""Driving the web console: a plain HTTP client (urllib, with cookies and
without following redirects) and a real headless Chromium (Selenium with
Debian's chromium and chromium-driver, installed by .ci/run).

Screenshots go to test-artifacts/console/ (git-ignored; the README names the
folder), one per page a browser test visits.
"""

from __future__ import annotations

import html
import http.cookiejar
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from registry_server.config import ServerConfig
from registry_server.server import RunningServer, start

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "console"
CHROMIUM = os.environ.get("REGISTRY_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("REGISTRY_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Page:
    status: int
    headers: Message
    text: str

    @property
    def location(self) -> str:
        return self.headers.get("location", "")

    def csrf(self) -> str:
        found = _CSRF.search(self.text)
        assert found, "no CSRF field on the page"
        return html.unescape(found.group(1))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class WebClient:
    """One browser's worth of cookies against one console."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirects()
        )

    def _open(self, request: urllib.request.Request) -> Page:
        try:
            with self._opener.open(request, timeout=30) as response:
                return Page(response.status, response.headers, response.read().decode())
        except urllib.error.HTTPError as error:
            body = error.read().decode(errors="replace")
            return Page(error.code, error.headers, body)

    def get(self, path: str) -> Page:
        return self._open(urllib.request.Request(self.base + path))

    def post(
        self, path: str, fields: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> Page:
        data = urllib.parse.urlencode(fields).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method="POST", headers=dict(headers or {})
        )
        return self._open(request)

    def cookie(self, name: str) -> http.cookiejar.Cookie | None:
        return next((c for c in self.cookies if c.name == name), None)


def model_path(name: str) -> str:
    return "/models/" + urllib.parse.quote(name, safe="")


def browser_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[object]:
    """A headless Chromium driven through chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    # The page's console messages (CSP violations among them) for the tests.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: object) -> list[str]:
    """The browser console's errors since the last call (CSP violations,
    failed loads, script errors)."""
    entries = driver.get_log("browser")  # type: ignore[attr-defined]
    return [e["message"] for e in entries if e.get("level") == "SEVERE"]


def screenshot(driver: object, name: str) -> Path:
    """Save what the browser shows as test-artifacts/console/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(target))  # type: ignore[attr-defined]
    return target


def full_page_screenshot(driver: object, name: str) -> Path:
    """The whole page, not only the window (the window is resized to fit)."""
    height = driver.execute_script(  # type: ignore[attr-defined]
        "return Math.min(document.documentElement.scrollHeight, 4000)"
    )
    size = driver.get_window_size()  # type: ignore[attr-defined]
    driver.set_window_size(size["width"], max(int(height), 400))  # type: ignore[attr-defined]
    try:
        return screenshot(driver, name)
    finally:
        driver.set_window_size(size["width"], size["height"])  # type: ignore[attr-defined]


def copy_screenshot(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


@contextmanager
def console_server(folder: Path, **settings: object) -> Iterator[RunningServer]:
    """A real server on SQLite with the side port (and so the console) on a
    free loopback port."""
    running = start(
        ServerConfig(
            database_url=f"sqlite:///{folder / 'registry.db'}",
            artifact_store=str(folder / "artifacts"),
            listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            **settings,  # type: ignore[arg-type]
        )
    )
    try:
        yield running
    finally:
        running.stop(grace=1)


def console_url(running: RunningServer) -> str:
    assert running.http is not None
    return f"http://127.0.0.1:{running.http.port}"
