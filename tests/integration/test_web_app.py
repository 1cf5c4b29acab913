"""The web app for real: `groundex serve` as its own process on 127.0.0.1 (spaCy profile, SQLite threads),
driven by headless Chromium through Selenium. Saves screenshots ($GROUNDEX_SCREENSHOTS, else tmp_path)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
POST = "Astronaut Eileen Collins at NASA in Houston"
TOKEN = "s3cret-test-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "groundex.agent.cli", "serve", "--profile", "spacy-baseline", "--port", str(port),
         "--token", TOKEN, "--threads-db", str(tmp_path / "threads.sqlite")],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "GROUNDEX_CACHE_DIR": str(tmp_path / "cache")})
    base = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base, timeout=2)
        except urllib.error.HTTPError:  # 401 without the token: the server is up
            break
        except OSError:
            if process.poll() is not None:
                raise AssertionError((tmp_path / "serve.log").read_text())
            time.sleep(0.5)
    yield base
    process.terminate()
    process.wait(timeout=30)


def test_requests_without_the_token_are_refused(server):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server, timeout=5)
    assert refused.value.code == 401
    request = urllib.request.Request(server, headers={"Authorization": f"Bearer {TOKEN}"})
    assert urllib.request.urlopen(request, timeout=5).status == 200


def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        if os.environ.get("CI"):
            raise AssertionError("CI must have Debian's chromium and chromium-driver (see .ci/run)")
        pytest.skip("chromium / chromedriver not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1300"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def test_upload_extract_see_the_overlay_and_table_then_correct(server, repo_root, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    shots = Path(os.environ.get("GROUNDEX_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    driver = browser()
    try:
        wait = WebDriverWait(driver, 120)
        driver.get(server + f"?token={TOKEN}")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#image-input input[type=file]"))
        driver.find_element(By.CSS_SELECTOR, "#image-input input[type=file]").send_keys(
            str(repo_root / "examples/images/astronaut.png"))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#image-input img"))
        driver.find_element(By.CSS_SELECTOR, "#post-text textarea").send_keys(POST)
        driver.find_element(By.CSS_SELECTOR, "#extract").click()
        wait.until(lambda d: "Eileen Collins" in d.find_element(By.ID, "triples").text)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#overlay img"))
        table = driver.find_element(By.ID, "triples").text
        assert "NASA" in table and "Houston" in table
        driver.save_screenshot(str(shots / "web-extract.png"))

        driver.find_element(By.CSS_SELECTOR, "#follow-up textarea").send_keys("remove NASA")
        driver.find_element(By.CSS_SELECTOR, "#send").click()
        wait.until(lambda d: "Removed 'NASA'" in d.find_element(By.ID, "history").text)
        assert "NASA" not in driver.find_element(By.ID, "triples").text
        driver.save_screenshot(str(shots / "web-follow-up.png"))
    finally:
        driver.quit()
    assert (shots / "web-extract.png").stat().st_size > 10_000


def test_the_first_screen_offers_example_posts_that_run_with_one_click(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    shots = Path(os.environ.get("GROUNDEX_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    driver = browser()
    try:
        wait = WebDriverWait(driver, 120)
        driver.get(server + f"?token={TOKEN}")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#examples button, #examples td, #examples img"))
        examples = driver.find_element(By.ID, "examples")
        assert "Eileen Collins" in examples.text and "Pikolo Espresso Bar" in examples.text
        assert "drink, cafe, city" in examples.text  # the zero-shot example's type list
        wait.until(lambda d: d.execute_script(  # both thumbnails loaded (served through the token check)
            "const i = document.querySelectorAll('#examples img'); return i.length == 2 && [...i].every(x => x.naturalWidth > 0)"))
        driver.save_screenshot(str(shots / "web-first-screen.png"))
        clickable = examples.find_elements(By.CSS_SELECTOR, "button, tr.tr-body, td")
        clickable[0].click()
        wait.until(lambda d: "Eileen Collins" in d.find_element(By.ID, "triples").text)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#overlay img"))
    finally:
        driver.quit()
