"""The app in a real browser: headless Debian Chromium driven by Playwright, with every request
to anything but the app's own server blocked (the app must work offline).

Saves a screenshot of each tab into the test's temporary folder, or into the folder named by
$STYLETRANSFER_SCREENSHOTS (the screenshots in docs/app.md are made with
``STYLETRANSFER_SCREENSHOTS=docs/screenshots``). Skips only when /usr/bin/chromium is missing
(CI installs it).
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from PIL import Image

from styletransfer.apps.jobs import default_output_size
from styletransfer.core.device import pick_device
from test_app import PHOTO, REPO, make_styles, mean_difference, running_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 # A generated test pattern as the camera, allowed without asking (the Webcam tab).
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
TIMEOUT_MS = 120_000

if not CHROMIUM.is_file():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("home")
    if not list((REPO / "styles").glob("*.safetensors")):  # the shipped styles, when there are some
        make_styles(home / "models")
    with running_app(home) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def fetch_image(page: object, src: str) -> Image.Image:
    response = page.request.get(src)
    assert response.ok, src
    return Image.open(io.BytesIO(response.body())).convert("RGB")


def test_page_stylizes_offline_and_screenshots_every_tab(app_url: str, browser: object, tmp_path: Path) -> None:
    screenshots = Path(os.environ.get("STYLETRANSFER_SCREENSHOTS", tmp_path))
    screenshots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []

    def only_localhost(route: object) -> None:
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_localhost)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url)

    # Stylize: upload a photo, pick the style in the gallery, run it.
    page.locator("#photo input[type=file]").set_input_files(str(PHOTO))
    page.locator("#styles .thumbnail-item, #styles button.thumbnail-item").first.click()
    page.locator("#go").click()
    page.get_by_text("px in").wait_for()
    result_images = page.locator("#result img")
    result_images.nth(1).wait_for()
    sources = [result_images.nth(index).get_attribute("src") for index in range(result_images.count())]
    shown = [fetch_image(page, src) for src in sources]
    photo = Image.open(PHOTO).convert("RGB")
    stylized = next(image for image in shown if mean_difference(image.resize(photo.size), photo) > 10)
    side = default_output_size(pick_device("auto"))  # the app's default for this machine's device
    assert stylized.size == (side, side * 3 // 4)  # the cat photo is 640x480
    page.locator("#download a, #download .file-preview").first.wait_for()
    page.screenshot(path=str(screenshots / "stylize.png"), full_page=True)

    # SRM: the same photo through the BN+SRM model and its twin.
    page.get_by_role("tab", name="SRM").click()
    page.locator("#srm-photo input[type=file]").set_input_files(str(PHOTO))
    page.locator("#srm-go").click()
    page.locator("#srm-results img").nth(1).wait_for()
    page.screenshot(path=str(screenshots / "srm.png"), full_page=True)

    # Webcam: Chromium's fake camera streamed through the style, with the frame rate shown.
    page.get_by_role("tab", name="Webcam").click()
    page.locator("#camera").get_by_text("Click to Access Webcam").click()
    page.locator("#camera button[aria-label='capture photo']").click()  # starts streaming
    page.locator("#live img").wait_for()
    page.locator("#live-rate").get_by_text("frames/s").wait_for()
    live = fetch_image(page, page.locator("#live img").get_attribute("src"))
    assert max(live.size) <= 320  # shrunk to the CPU's live size
    page.screenshot(path=str(screenshots / "webcam.png"), full_page=True)
    page.locator("#camera").get_by_text("Stop").click()

    # Train: a few steps on the bundled photos, with live progress and previews, then cancel.
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-estimate").get_by_text("About").wait_for()  # how long it takes, before it starts
    assert f"on this {pick_device('auto').type.upper()}" in page.locator("#train-estimate").inner_text()
    painting = next(iter(sorted((REPO / "styles").glob("*.jpg"))), PHOTO.with_name("red_panda.jpg"))
    page.locator("#painting input[type=file]").set_input_files(str(painting))
    page.locator("#train-start").click()
    page.locator("#train-status").get_by_text("step").wait_for()
    page.locator("#train-preview img").wait_for()
    page.locator("#train-curves img").wait_for()
    page.screenshot(path=str(screenshots / "train.png"), full_page=True)
    page.locator("#train-cancel").click()
    page.locator("#train-status").get_by_text("Cancelled").or_(
        page.locator("#train-status").get_by_text("Finished")).wait_for()

    assert outside == [], f"the page tried to reach the internet: {outside}"
    assert errors == []
