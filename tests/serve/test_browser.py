"""The dashboards in a real headless Chromium against uvicorn on 127.0.0.1.

Playwright drives Debian's ``chromium`` (``make browser`` installs it); the
tests skip, saying so, when either is missing. Screenshots land in each
test's temporary folder.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest

from tests.serve.conftest import PASSWORDS, XSS_NAME

CHROMIUM = shutil.which("chromium")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is missing: run 'make browser'"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(built_store, tmp_path_factory):
    """uvicorn serving a copy of the built store on a free loopback port."""
    import uvicorn

    from minescan.serve.app import create_app

    folder = tmp_path_factory.mktemp("browser")
    target = folder / "store.gpkg"
    shutil.copy(built_store, target)
    port = free_port()
    config = uvicorn.Config(
        create_app(str(target), folder / "work"), host="127.0.0.1", port=port, log_level="warning"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    for _ in range(200):
        if running.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    # Basemap tiles would need the network; the page must work without them.
    context.route("https://tile.openstreetmap.org/**", lambda route: route.abort())
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    page.screenshot(path=str(tmp_path / "screenshot.png"), full_page=True)
    context.close()
    assert not errors, errors


def api(page, path: str):
    return page.evaluate("(path) => fetch(path).then((r) => r.json())", path)


def wait_for_map(page, period: str):
    page.wait_for_selector(f"#map[data-ready^='{period}/']", timeout=10_000)


def test_map_renders_features(page, server):
    page.goto(server + "/")
    wait_for_map(page, "2021")
    drawn = page.locator(".leaflet-overlay-pane path").count()
    assert drawn > 0
    assert drawn == int(page.locator("#map").get_attribute("data-features"))


def test_slider_changes_counts_and_panel_equals_api(page, server):
    page.goto(server + "/")
    wait_for_map(page, "2021")
    # locator assertions poll without eval, which the dashboard's CSP (script-src 'self') forbids
    count = page.locator("#count-cumulative")
    playwright_api.expect(count).not_to_have_text("-", timeout=10_000)
    latest = count.text_content()
    page.locator("#period").fill("0")
    wait_for_map(page, "2019")
    playwright_api.expect(count).not_to_have_text(latest, timeout=10_000)
    expected = api(page, "/api/summary?period=2019")
    shown = {
        key: page.locator(f"#{key}").text_content() for key in ("count-cumulative", "count-new")
    }
    assert shown == {
        "count-cumulative": str(expected["cumulative"]),
        "count-new": str(expected["new"]),
    }
    assert page.locator("#count-provisional").text_content() == str(expected["provisional"])
    area = float(page.locator("#area").text_content().replace(",", ""))
    assert area == pytest.approx(expected["area_ha"], abs=0.01)
    assert "period=2019" in page.url  # the view is in the URL
    page.goto(page.url)
    wait_for_map(page, "2019")
    assert page.locator("#period-label").text_content() == "2019"


def test_admin_pages_refuse_a_visitor_without_a_session(page, server):
    page.goto(server + "/admin")
    assert page.url.endswith("/admin/login")
    status = page.evaluate("fetch('/admin/api/runs').then((r) => r.status)")
    assert status == 401


def test_forged_post_without_csrf_is_refused(page, server):
    page.goto(server + "/admin/login")
    page.fill("input[name=user]", "ada")
    page.fill("input[name=password]", PASSWORDS["ada"])
    page.click("button[type=submit]")
    page.wait_for_url(server + "/admin")
    page.wait_for_selector("#runs tbody tr")
    forged = page.evaluate(
        """fetch('/admin/api/users', {method: 'POST', headers: {'Content-Type': 'application/json'},
             body: JSON.stringify({user: 'eve', role: 'admin', password: 'eve-password'})})
           .then((r) => r.status)"""
    )
    assert forged == 403
    users = [row.split("\t")[0] for row in page.locator("#users tbody tr").all_inner_texts()]
    assert "eve" not in users and "ada" in users


def test_a_mine_name_holding_script_is_shown_as_text(page, server):
    page.goto(server + "/mine/2")
    assert page.locator("#mine-name").text_content() == XSS_NAME
    assert page.evaluate("window.pwned") is None
    page.goto(server + "/")
    wait_for_map(page, "2021")
    page.fill("#search", "Obuasi")
    page.wait_for_selector("#search-results li")
    assert XSS_NAME in page.locator("#search-results li").first.text_content()
    assert page.evaluate("window.pwned") is None
