"""The web console in a real browser: Playwright for Python driving Debian's Chromium (``/usr/bin/chromium``).

* the page loads with no console errors and its live stream connects;
* the live view shows a slot when one closes (a request uploaded to ``/v1/generate`` by another client);
* "Try it" (keyboard-driven sliders and picker) completes with the simulated device: the decision,
  the condition and the final image appear, and the live table gets the request's row;
* a bad upload (a truncated PNG) and a too-big file show clear errors.

Cheap: tiny components, 64 px images, 2-4 steps. Screenshots go to ``tmp_path``. Skipped with the reason
when Playwright or a Chromium binary is missing (``.ci/run`` installs Debian's ``chromium``).
``MOBIGEN_CONSOLE_SCREENSHOT=docs/console.png`` also saves the try-it page there (the README's picture).
"""

from __future__ import annotations

import io
import os
import shutil

import httpx
import numpy as np
import pytest

from _serving_support import jpeg_condition, meta_dict, multipart, small_scenario_file
from mobigen.serving.app import create_app
from mobigen.serving.server import ServerThread
from mobigen.serving.settings import ServerSettings

pytestmark = pytest.mark.filterwarnings("ignore")

CHROMIUM = os.environ.get("MOBIGEN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium binary at {CHROMIUM} (install Debian's 'chromium', or set MOBIGEN_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Exception as exc:  # noqa: BLE001 - a broken browser install: say why and skip
            pytest.skip(f"Chromium at {CHROMIUM} does not start: {exc}")
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = ServerSettings(port=0, scenario=small_scenario_file(tmp_path_factory.mktemp("sc")), image_size=64,
                       slot_ms=30, max_users=2)
    with ServerThread(create_app(s)) as srv:
        yield srv


@pytest.fixture()
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1100})
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.errors = []  # console errors and uncaught exceptions seen by the test
    pg.on("console", lambda m: pg.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(f"pageerror: {e}"))
    pg.goto(f"{server.url}/ui/")
    pg.wait_for_function("document.getElementById('conn').textContent === 'live'")
    pg.wait_for_function("document.getElementById('server-info').textContent.includes('controller')")
    yield pg
    ctx.close()


def photo(path) -> str:  # noqa: ANN001
    """A small synthetic scene (sky, sun, hills, a house): real edges for the extractors, no data file needed."""
    from PIL import Image, ImageDraw

    w, h = 160, 120
    sky = np.linspace([90, 150, 230], [200, 225, 250], h).astype(np.uint8)
    im = Image.fromarray(np.repeat(sky[:, None, :], w, axis=1))
    d = ImageDraw.Draw(im)
    d.ellipse((112, 12, 140, 40), fill=(250, 210, 60))
    d.polygon([(0, 90), (50, 62), (100, 88), (160, 70), (160, 120), (0, 120)], fill=(70, 140, 60))
    d.rectangle((40, 70, 80, 100), fill=(180, 80, 60))
    d.polygon([(36, 70), (60, 50), (84, 70)], fill=(110, 50, 40))
    d.rectangle((55, 85, 65, 100), fill=(60, 40, 30))
    im.save(path)
    return str(path)


def test_page_loads_without_console_errors(page, tmp_path):
    assert page.title() == "mobigen edge console"
    assert page.locator("#try-device option").count() == 5  # the scenario's device types
    for control in ("try-image", "try-prompt", "try-omega", "try-qoe", "try-device", "try-seed"):
        assert page.locator(f"label[for={control}]").count() == 1  # every control has its label
    page.wait_for_timeout(300)
    page.screenshot(path=str(tmp_path / "console-loaded.png"), full_page=True)
    assert page.errors == []


def test_live_view_updates_when_a_slot_closes(page, server, tmp_path):
    rid = "browser-live-0001"
    m = meta_dict(device_type=2, request_id=rid)
    r = httpx.post(f"{server.url}/v1/generate", files=multipart(m, jpeg_condition(2)), timeout=60)
    assert r.status_code == 200, r.text
    row = page.locator(f"tr[data-request-id='{rid}']")
    row.wait_for()
    page.wait_for_function(f"!document.querySelector(\"tr[data-request-id='{rid}']\").textContent.includes('…')")
    text = row.inner_text()
    assert "canny, 0.25, 0.5, jpeg" in text
    slot_id = row.get_attribute("data-slot-id")
    assert int(slot_id) >= 0 and int(page.locator("#slot-count").inner_text()) >= 1
    assert "steps" in page.locator("#budget").inner_text()
    page.screenshot(path=str(tmp_path / "console-live.png"), full_page=True)
    assert page.errors == []


def test_try_it_completes_and_shows_the_decision(page, tmp_path):
    page.set_input_files("#try-image", photo(tmp_path / "photo.png"))
    page.fill("#try-prompt", "a lighthouse on a cliff")
    page.focus("#try-omega")
    for _ in range(4):  # keyboard: 0.50 -> 0.70
        page.keyboard.press("ArrowRight")
    assert page.locator("#try-omega-out").inner_text() == "0.70"
    page.focus("#try-qoe")
    page.keyboard.press("ArrowLeft")
    assert page.locator("#try-qoe-out").inner_text() == "0.55"
    page.select_option("#try-device", "2")
    page.focus("#try-submit")
    page.keyboard.press("Enter")
    page.locator("#try-result").wait_for(state="visible")
    decision = page.locator("#try-decision").inner_text()
    assert decision.startswith("T = ") and "edge steps" in decision and "device type 2" in decision
    rid = page.locator("#try-rid").inner_text().split()[-1]
    assert page.locator("#try-final-img").get_attribute("src").startswith("data:image/png;base64,")
    assert page.locator("#try-cond-img").get_attribute("src").startswith("data:image/")
    assert "noise" in page.locator("#try-final-cap").inner_text()
    assert "bytes" in page.locator("#try-cond-cap").inner_text()
    assert page.locator("#try-timings tbody tr").count() >= 10
    assert "surrogate" in page.locator("#try-quality").inner_text()
    assert page.locator("#try-error").is_hidden()
    page.locator(f"tr[data-request-id='{rid}']").wait_for()  # the live view shows the simulated device's slot
    page.wait_for_function(f"document.querySelector(\"tr[data-request-id='{rid}']\").textContent.includes('(sim.)')")
    page.screenshot(path=str(tmp_path / "console-try.png"), full_page=True)
    if os.environ.get("MOBIGEN_CONSOLE_SCREENSHOT"):  # the README's picture: docs/console.png
        page.screenshot(path=os.environ["MOBIGEN_CONSOLE_SCREENSHOT"], full_page=True)
    assert page.errors == []


def test_bad_upload_shows_the_error(page, tmp_path):
    bad = tmp_path / "broken.png"
    good = io.BytesIO()
    from PIL import Image

    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 128).save(good, "PNG")
    bad.write_bytes(good.getvalue()[:40])  # truncated
    page.set_input_files("#try-image", str(bad))
    page.click("#try-submit")
    err = page.locator("#try-error")
    err.wait_for(state="visible")
    text = err.inner_text()
    assert "invalid_image" in text and "HTTP 422" in text and "field 'image'" in text
    assert page.locator("#try-result").is_hidden()
    page.screenshot(path=str(tmp_path / "console-bad-upload.png"), full_page=True)
    big = tmp_path / "huge.png"
    big.write_bytes(good.getvalue() + b"\0" * 2_100_000)
    page.set_input_files("#try-image", str(big))
    page.click("#try-submit")
    page.wait_for_function("document.getElementById('try-error').textContent.includes('body_too_large')")
    assert "2000000 bytes" in err.inner_text()
