"""The Dagster UI on the demo loop, in a real headless Chromium (Selenium + Debian's driver)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from validation_loop.defs.runs import INSTANCE_CONFIG, LoopRunner
from validation_loop.report.store import latest_report
from validation_loop_tests.servers import free_port

BROWSER_ENV = "VALIDATION_LOOP_REQUIRE_BROWSER"


def _driver():
    """A headless Chromium driven by chromedriver, or a skip (a failure in CI)."""
    browser = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        if os.environ.get(BROWSER_ENV):
            pytest.fail(f"{BROWSER_ENV} is set but chromium/chromedriver are not installed")
        pytest.skip("chromium and chromedriver are not installed (CI installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def _wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {seconds} s")


@pytest.fixture
def webserver(demo_copy, tmp_path):
    """`dagster-webserver` on a free loopback port, on the demo home with a fresh compare run."""
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(INSTANCE_CONFIG)
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    LoopRunner(demo_copy, "adult", instance).compare()
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "VALIDATION_LOOP_HOME": str(demo_copy.root),
    }
    binary = Path(sys.executable).with_name("dagster-webserver")
    command = [str(binary), "-h", "127.0.0.1", "-p", str(port), "-m", "validation_loop.definitions"]
    log = (tmp_path / "webserver.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(f"http://127.0.0.1:{port}/server_info", 120)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_dagster_ui_shows_the_loop_and_its_report(webserver, demo_copy, tmp_path) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    artefacts = Path(os.environ.get("VALIDATION_LOOP_ARTEFACTS", tmp_path))
    artefacts.mkdir(parents=True, exist_ok=True)
    driver = _driver()
    wait = WebDriverWait(driver, 90)

    def shows(text: str) -> None:
        wait.until(ec.presence_of_element_located((By.XPATH, f"//*[contains(text(), '{text}')]")))

    try:
        driver.get(f"{webserver}/asset-groups/adult")
        with contextlib.suppress(TimeoutException):  # Dagster's first-visit newsletter dialog
            WebDriverWait(driver, 10).until(
                ec.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Skip']"))
            ).click()
        for asset in ("batches", "gap_report", "generator_config", "alerts", "reference_batch"):
            shows(asset)
        driver.save_screenshot(str(artefacts / "ui_asset_graph.png"))

        driver.get(f"{webserver}/assets/adult/gap_report")
        for key in ("score", "top_gaps", "summary", "report_html"):
            shows(key)
        page = driver.page_source
        assert "errors" in page and "warnings" in page
        driver.save_screenshot(str(artefacts / "ui_gap_report_metadata.png"))

        report = latest_report(demo_copy, "adult")
        html = demo_copy.reports_dir("adult") / f"{report['report_id']}.html"
        driver.get(html.as_uri())
        shows("Gap report: loop adult")
        shows("Score and its trend")
        assert driver.find_elements(By.TAG_NAME, "svg")
        driver.save_screenshot(str(artefacts / "ui_html_report.png"))
    finally:
        driver.quit()
    for name in ("ui_asset_graph.png", "ui_gap_report_metadata.png", "ui_html_report.png"):
        assert (artefacts / name).stat().st_size > 10_000
