"""End to end in headless Chromium: type a query on the page, check the highlighted results.

Uses Debian's ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` through Selenium (nothing is
downloaded). Set ``SPLADE_QDRANT_SCREENSHOT=docs/serve-page.png`` to also save the screenshot
there (the README's picture).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .conftest import LiveServer, make_settings

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
QUERY = "slipstream effects on wings"


@pytest.fixture
def browser(tmp_path: Path):  # type: ignore[no-untyped-def]
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium")
    if not CHROMIUM.is_file() or not CHROMEDRIVER.is_file():
        pytest.skip(f"headless browser test needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}); "
                    "apt-get install -y chromium chromium-driver")
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--window-size=1200,1000",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def test_page_shows_highlighted_results(browser, cran_store: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from splade_qdrant.service import create_app

    with LiveServer(create_app(make_settings(cran_store))) as server:
        api = httpx.post(f"{server.url}/search", json={"text": QUERY, "limit": 10, "explain": True, "highlight": True}, timeout=60).json()
        browser.get(server.url + "/")
        wait = WebDriverWait(browser, 60)
        wait.until(ec.text_to_be_present_in_element((By.ID, "meta"), "collection cran"))
        box = browser.find_element(By.ID, "q")
        box.send_keys(QUERY)
        browser.find_element(By.ID, "go").click()
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-searched") == "1")
        hits = browser.find_elements(By.CSS_SELECTOR, "article.hit")
        assert [h.get_attribute("data-id") for h in hits] == [h["id"] for h in api["hits"]]
        first_marks = hits[0].find_elements(By.TAG_NAME, "mark")
        expected = api["highlights"][0]["spans"]
        assert len(first_marks) == len(expected) > 0
        for mark, span in zip(first_marks, expected):
            word = api["highlights"][0]["text"][span["start"] : span["end"]]
            assert mark.text.startswith(word)  # the word, then its contribution in a <sup>
            assert mark.get_attribute("title").endswith(f"{span['contribution']:.3f}")
        marked = {m.text.split("\n")[0].lower() for m in browser.find_elements(By.CSS_SELECTOR, "article.hit mark")}
        assert any(w.startswith("slipstream") for w in marked)
        assert "matched terms:" in hits[0].text
        assert "hits in" in browser.find_element(By.ID, "status").text
        shot = tmp_path / "serve-page.png"
        assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        target = os.environ.get("SPLADE_QDRANT_SCREENSHOT")
        if target:
            shutil.copyfile(shot, target)
