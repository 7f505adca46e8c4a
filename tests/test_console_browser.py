"""The web console in a real headless Chromium (Selenium; Debian's chromium
and chromium-driver): browse, search, open a version, live updates, moving
an alias and the conflict when another client moved it first, hostile names
shown as text, signing in and out. Each page visited is kept as a
screenshot in test-artifacts/console/.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.auth import AuthServer, start_auth_server
from support.browser import (
    browser_available,
    chromium,
    console_errors,
    console_server,
    console_url,
    full_page_screenshot,
    model_path,
    screenshot,
)
from support.waiting import wait_until

from registry_client import Lineage, RegistryClient
from registry_server.server import RunningServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not browser_available(), reason="chromium and chromedriver not installed"),
]

# By and Keys, imported where selenium is known to be there.
from selenium.common.exceptions import (  # noqa: E402
    NoAlertPresentException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with console_server(tmp_path_factory.mktemp("console-browser")) as running:
        yield running


@pytest.fixture(scope="module")
def grpc(server: RunningServer) -> Iterator[RegistryClient]:
    with RegistryClient(f"127.0.0.1:{server.port}", actor="ci-deployer") as made:
        yield made


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def world(grpc: RegistryClient, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A few models that look like a real registry; returns the main one."""
    folder: Path = tmp_path_factory.mktemp("files")
    (folder / "model.pkl").write_bytes(b"\x80weights" * 5000)
    (folder / "MLmodel").write_text("flavors: {python_function: {}}\n")
    name = "fraud-detector"
    grpc.create_registered_model(
        name,
        description="Scores card transactions.\n\n* trained weekly\n* owner: **risk team**",
        tags={"team": "risk", "tier": "1"},
    )
    for week in range(1, 5):
        grpc.log_model_version(
            name,
            folder,
            lineage=Lineage(
                run_id=f"run-{week:04d}",
                run_link=f"https://ci.example/runs/{week}",
                experiment_id="fraud-weekly",
                code_version=f"{week}a1b2c3",
                parent_model_uri=f"models:/{name}/{week - 1}" if week > 1 else "",
            ),
            tags={"auc": f"0.9{week}"},
        )
    grpc.transition_model_version_stage(name, 3, "Production")
    grpc.transition_model_version_stage(name, 4, "Staging")
    grpc.set_registered_model_alias(name, "champion", 3)
    grpc.set_registered_model_alias(name, "challenger", 4)
    for other in ("churn-model", "fraud-rules", "recommender"):
        grpc.create_registered_model(other, tags={"team": "growth"})
        grpc.create_model_version(other, source=f"s3://models/{other}/1")
    grpc.create_registered_model(HOSTILE, description="<script>document.title='pwned'</script>")
    return name


def _text(driver: Any, by: str, value: str) -> str:
    """An element's text, or "" while it is missing or being replaced (a
    navigation or a live refresh in progress)."""
    try:
        return str(driver.find_element(by, value).text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def _no_alert(driver: Any) -> bool:
    try:
        _ = driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


def test_browse_search_and_open_a_version(browser: Any, server: RunningServer, world: str) -> None:
    base = console_url(server)
    browser.get(base + "/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Models"
    full_page_screenshot(browser, "models")

    search = browser.find_element(By.ID, "q")
    search.send_keys("fraud", Keys.ENTER)
    wait_until(lambda: "q=fraud" in browser.current_url, what="the search ran")
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "a.model-link")]
    assert names == ["fraud-detector", "fraud-rules"]
    full_page_screenshot(browser, "search")

    browser.find_element(By.LINK_TEXT, "fraud-detector").click()
    wait_until(lambda: _text(browser, By.TAG_NAME, "h1") == "fraud-detector")
    assert "risk team" in browser.find_element(By.ID, "description").text
    aliases = browser.find_element(By.ID, "aliases").text
    assert "@champion" in aliases and "v3" in aliases
    full_page_screenshot(browser, "model")

    browser.find_element(By.CSS_SELECTOR, f'a[href="{model_path(world)}/versions/3"]').click()
    wait_until(lambda: "v3" in _text(browser, By.TAG_NAME, "h1"))
    uris = browser.find_element(By.ID, "uris").text
    assert f"models:/{world}@champion" in uris and f"models:/{world}/Production" in uris
    files = browser.find_element(By.ID, "files").text
    assert "model.pkl" in files and "39.1 KiB" in files
    graph = browser.find_element(By.CSS_SELECTOR, "ol.graph").text
    assert "fraud-detector v2" in graph and "fraud-detector v4" in graph
    full_page_screenshot(browser, "version")

    browser.find_element(By.LINK_TEXT, "History").click()
    wait_until(lambda: "history" in _text(browser, By.TAG_NAME, "h1"))
    assert "alias set" in browser.find_element(By.ID, "events").text.lower()
    full_page_screenshot(browser, "history")
    # No CSP violation, no failed asset, no script error on any page above.
    assert console_errors(browser) == []


def test_pages_fit_a_phone_and_work_with_the_keyboard(
    browser: Any, server: RunningServer, world: str
) -> None:
    base = console_url(server)
    size = browser.get_window_size()
    browser.set_window_size(390, 844)
    try:
        for path, shot in (("/", "models-phone"), (model_path(world), "model-phone")):
            browser.get(base + path)
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
            screenshot(browser, shot)
    finally:
        browser.set_window_size(size["width"], size["height"])
    browser.get(base + "/")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    focused = browser.switch_to.active_element
    assert focused.text == "Skip to content"
    for field in browser.find_elements(By.CSS_SELECTOR, "input:not([type=hidden]), select"):
        label = browser.find_elements(By.CSS_SELECTOR, f'label[for="{field.get_attribute("id")}"]')
        assert label, f"field {field.get_attribute('name')} has no label"


def test_moving_an_alias_shows_the_conflict_when_another_client_moved_it_first(
    browser: Any, server: RunningServer, grpc: RegistryClient, world: str
) -> None:
    base = console_url(server)
    grpc.set_registered_model_alias(world, "canary", 1)
    browser.get(base + model_path(world))
    wait_until(
        lambda: (
            browser.find_element(By.TAG_NAME, "body").get_attribute("data-live-connected") == "true"
        ),
        what="the live stream is open",
    )
    browser.execute_script("window.notReloaded = true")
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-alias="canary"]')
    row.find_element(By.NAME, "version").send_keys("3")

    # Another deployer moves @canary while this page still shows v1.
    grpc.set_registered_model_alias(world, "canary", 2)
    wait_until(
        lambda: "alias set" in _text(browser, By.ID, "live-status"),
        what="the live update arrived",
    )
    versions = browser.find_element(By.ID, "versions").text
    assert "@canary" in versions.split("v2")[1].split("v1")[0]  # refreshed without a reload
    assert browser.execute_script("return window.notReloaded") is True

    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-alias="canary"]')
    row.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    problem = wait_until(lambda: browser.find_elements(By.ID, "problem"), what="a conflict")[0]
    assert "Conflict: nothing was changed." in problem.text
    assert "points at version 2, expected it to point at version 1" in problem.text
    full_page_screenshot(browser, "alias-conflict")
    assert grpc.get_model_version_by_alias(world, "canary").version == 2

    # The page now shows v2; moving from there works.
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-alias="canary"]')
    assert row.find_element(By.CSS_SELECTOR, "a.alias-version").text == "v2"
    row.find_element(By.NAME, "version").send_keys("3", Keys.ENTER)
    wait_until(lambda: "Alias moved." in _text(browser, By.TAG_NAME, "main"))
    assert grpc.get_model_version_by_alias(world, "canary").version == 3
    assert grpc.list_model_events(world, alias="canary").events[-1].actor == "console"


def test_hostile_names_and_descriptions_render_as_text(
    browser: Any, server: RunningServer, world: str
) -> None:
    base = console_url(server)
    browser.get(base + "/?q=" + urllib.parse.quote("onerror"))
    link = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "a.model-link"))[0]
    assert link.text == HOSTILE
    link.click()
    wait_until(lambda: _text(browser, By.TAG_NAME, "h1") == HOSTILE)
    description = browser.find_element(By.ID, "description").text
    assert description == "<script>document.title='pwned'</script>"
    assert browser.find_elements(By.CSS_SELECTOR, "main img") == []
    assert browser.title == f"{HOSTILE} · Model registry"  # the name, not a changed title
    assert _no_alert(browser)
    screenshot(browser, "hostile-name")


@pytest.fixture(scope="module")
def auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    folder = tmp_path_factory.mktemp("console-browser-auth")
    running = start_auth_server(
        f"sqlite:///{folder / 'registry.db'}", folder / "artifacts", http_listen="127.0.0.1:0"
    )
    server = AuthServer(running, "sqlite", folder)
    yield server
    server.close()


def test_signing_in_and_out(browser: Any, auth: AuthServer) -> None:
    admin = auth.token("erin", "admin")
    auth.client(admin).create_registered_model("payments-risk")
    base = console_url(auth.running)
    browser.delete_all_cookies()
    browser.get(base + "/models/payments-risk")
    wait_until(lambda: "/login" in browser.current_url, what="sent to sign in")
    assert "payments-risk" not in browser.find_element(By.TAG_NAME, "main").text
    screenshot(browser, "login")

    browser.find_element(By.ID, "token").send_keys("mrt_wrong", Keys.ENTER)
    error = wait_until(lambda: browser.find_elements(By.ID, "login-error"))[0]
    assert "not accepted" in error.text

    browser.find_element(By.ID, "token").send_keys(admin, Keys.ENTER)
    wait_until(lambda: _text(browser, By.TAG_NAME, "h1") == "payments-risk")
    assert "erin" in browser.find_element(By.CSS_SELECTOR, ".who").text
    session = browser.get_cookie("mr_session")
    assert session is not None and session["httpOnly"] and session["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""  # HttpOnly: not readable

    browser.find_element(By.ID, "sign-out").click()
    wait_until(lambda: browser.current_url.endswith("/login"), what="signed out")
    browser.get(base + "/")
    wait_until(lambda: "/login" in browser.current_url, what="signed out for good")
