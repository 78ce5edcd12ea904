"""The operator console in a real browser (Debian's Chromium via Playwright): log in, turn a queue
item into training data, check `rasa data validate` on that copy of the data, see the dashboard's
charts. Screenshots go to results/screenshots/ for a person to look at."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_widget_browser
import yaml
from console_data import CRISIS_TEXT, PASSWORD, RunningConsole, running_console
from playwright.sync_api import expect
from servers import BIN
from test_widget_browser import DESKTOP, PHONE, SCREENSHOTS

from console.app import STATIC

pytestmark = [pytest.mark.browser]

# The widget's browser tests' fixture: Debian's Chromium, one per module.
browser = test_widget_browser.browser

CHARTS = ["traffic", "topics", "rates", "crisis", "helpful", "hours", "languages"]


@pytest.fixture(scope="module")
def console(tmp_path_factory) -> Iterator[RunningConsole]:
    if not STATIC["dashboard.js"][0].exists():
        pytest.fail("console/static/dist/dashboard.js is missing: run `make console` (make test does)")
    with running_console(tmp_path_factory.mktemp("console")) as running:
        yield running


def logged_in(browser: Any, console: RunningConsole, viewport: dict[str, int], **options: Any) -> Any:
    context = browser.new_context(viewport=viewport, **options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: page.errors.append(message.text) if message.type == "error" else None)
    page.goto(console.url + "/")
    expect(page).to_have_url(console.url + "/login")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(console.url + "/")
    return page


def shot(page: Any, name: str, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def validate(project: Path) -> str:
    """`rasa data validate` on the copy, failing on any warning (as scripts/validate.sh does)."""
    done = subprocess.run(
        [str(BIN / "rasa"), "data", "validate", "--fail-on-warnings"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    flagged = re.compile(r"UserWarning|WARNING|ERROR")
    harmless = re.compile(r"Deprecat|MovedIn20|SAWarning")
    warnings = [line for line in output.splitlines() if flagged.search(line) and not harmless.search(line)]
    assert done.returncode == 0 and not warnings, output[-3000:]
    return output


def test_a_queue_item_becomes_training_data_in_the_right_file(browser, console):
    page = logged_in(browser, console, DESKTOP)
    group = page.get_by_role("region", name="“can i take valium for the shakes when kicking”")
    expect(group).to_contain_text("asked 3\u00d7")
    expect(group).to_contain_text("ask_med_helps")  # the assistant's best guess, with its confidence
    expect(group.get_by_role("checkbox")).to_have_count(3)
    expect(page.get_by_role("region", name="Crisis language: text not stored")).to_be_visible()
    spanish = page.get_by_role("region", name="“¿el valium sirve para los temblores de la abstinencia?”")
    expect(spanish.locator(".lang-tag").first).to_have_text("ESSpanish")  # "ES" seen, "Spanish" read out
    hidden = spanish.locator(".lang-tag .visually-hidden").first.bounding_box()
    assert hidden and hidden["width"] <= 1 and hidden["height"] <= 1  # for screen readers only
    shot(page, "console-queue")

    group.get_by_label("Add as examples of").select_option("ask_med_helps")
    group.get_by_role("button", name="Add to intent").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Added 3 example(s) to ask_med_helps in data/nlu/medications.yml; 3 question(s) done."
    )
    expect(page.get_by_role("region", name="“can i take valium for the shakes when kicking”")).to_have_count(
        0
    )
    shot(page, "console-queue-after-add")

    nlu = console.project / "data" / "nlu"
    blocks = {
        b["intent"]: b["examples"] for b in yaml.safe_load((nlu / "medications.yml").read_text())["nlu"]
    }
    assert "- can I take valium for the shakes when kicking?\n" in blocks["ask_med_helps"]
    assert not any(
        "shakes when kicking" in p.read_text() for p in nlu.glob("*.yml") if p.name != "medications.yml"
    )
    validate(console.project)

    page.get_by_role("link", name="Done").click()
    expect(page.get_by_role("table")).to_contain_text("added to ask_med_helps (data/nlu/medications.yml)")
    assert page.errors == []
    page.context.close()


def canvas_painted(page: Any, name: str) -> int:
    """How many pixels of the chart's canvas are drawn (not transparent)."""
    return page.evaluate(
        """(id) => {
          const canvas = document.getElementById(id);
          const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          let painted = 0;
          for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
          return painted;
        }""",
        f"chart-{name}",
    )


@pytest.mark.parametrize(
    ("viewport", "options"), [(DESKTOP, {}), (PHONE, {"is_mobile": True, "has_touch": True})]
)
def test_dashboard_draws_every_chart_with_data(browser, console, viewport, options):
    page = logged_in(browser, console, viewport, **options)
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#dashboard")).to_have_attribute("data-ready", "true")
    expect(page.locator("#figures")).to_contain_text("messages")
    rows = page.get_by_role("table", name="By language").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1).get_by_role("rowheader")).to_have_text("Spanish (ES)")
    for name in CHARTS:
        canvas = page.locator(f"#chart-{name}")
        expect(canvas).to_be_visible()
        box = canvas.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 150, (name, box)
        assert canvas_painted(page, name) > 2000, name  # axes and bars or lines, not an empty canvas
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]  # no sideways scroll
    shot(page, f"console-dashboard-{'phone' if options else 'desktop'}", full_page=True)
    for path in ("/", "/done"):  # the other pages fit the screen too
        page.goto(console.url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], path
    assert page.errors == []
    page.context.close()


def test_crisis_text_is_absent_from_every_page(browser, console):
    page = logged_in(browser, console, DESKTOP)
    for path in ["/", "/done", "/dashboard", "/api/stats?days=90"]:
        page.goto(console.url + path)
        assert CRISIS_TEXT not in page.content(), path
    page.goto(console.url + "/done")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export new answers").click()
    assert CRISIS_TEXT not in Path(download.value.path()).read_text()
    page.context.close()
