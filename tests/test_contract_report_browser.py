"""The HTML report as people see it: a real run's report.html opened in headless Chromium renders with no console
errors, opens with the errors and warnings, and shows the operation × status-code matrix as a picture.

Needs Chromium, chromedriver and selenium (`make test` installs them); the screenshot lands in the test's tmp_path.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.test_contract_broken import contract, mock_app, serve  # noqa: F401
from tests.test_contract_resilience import add_field

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium and chromedriver are needed")


def browser() -> Any:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    flags = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,2000")
    for flag in flags:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_the_html_report_renders_the_matrix_without_console_errors(
    serve: Callable[[Any], str],  # noqa: F811
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By

    # a documented field: an error (issue 15 marked every XP profile field inferred; the streak's are documented)
    broken = add_field("/api/xp/streak-status", "GET", "current_streak", "seven")(mock_app())
    result = contract(
        serve(broken), tmp_path, operations=["getStreakStatus", "getHealth", "listNotes"], phases=["coverage"]
    )
    from contract_tests import report

    paths = report.write_all(result, tmp_path / "r")
    assert result.exit_code == 1
    driver = browser()
    try:
        driver.get(Path(paths["html"]).resolve().as_uri())
        headings = [h.text for h in driver.find_elements(By.TAG_NAME, "h2")]
        assert headings[0].startswith("Errors: documented rules broken"), headings
        matrix = driver.find_element(By.ID, "status-matrix")
        assert matrix.is_displayed() and matrix.size["width"] > 300 and matrix.size["height"] > 100
        cells = driver.find_elements(By.CSS_SELECTOR, "#status-matrix rect.cell")
        assert len(cells) >= 6 and any("documented-and-seen" in (c.get_attribute("class") or "") for c in cells)
        rows = {
            r.get_attribute("data-operation"): r.get_attribute("class")
            for r in driver.find_elements(By.CSS_SELECTOR, "#status-matrix g.row")
        }
        assert set(rows) == {"getStreakStatus", "getHealth", "listNotes"} and "error" in rows["getStreakStatus"]
        table = "//table[thead//th[text()='since']]/tbody/tr"
        rows_shown = driver.find_elements(By.XPATH, table)
        since = [cell.text for cell in driver.find_elements(By.XPATH, f"{table}/td[4]")]  # the 4th cell's text only
        assert len(since) == len(rows_shown) >= 3, (len(rows_shown), since)
        assert all(text.startswith("2026-04-") for text in since), since  # every row shows it
        driver.save_screenshot(str(tmp_path / "report.png"))
        matrix.screenshot(str(tmp_path / "matrix.png"))
        errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
        assert errors == [], errors
    finally:
        driver.quit()
    assert (tmp_path / "report.png").stat().st_size > 10_000
