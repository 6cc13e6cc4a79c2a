"""The status page in a real headless chromium (issue 14): the demo runs, the page shows Alice
turn Busy live without a reload, the DND filter leaves Erin alone, and a screenshot of the live
page is saved (docs/status-page.png with UPDATE_SCREENSHOT=1; README, "Try it"); with 10,000
people the page loads within 2 s. Nothing secret reaches the page or its stream.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bridge.config import HttpConfig, load_config_text
from bridge.demo import Demo, demo_yaml, running_service
from bridge.kit.asgi import ServedApp
from bridge.runtime.http import serve_status
from tests.page.browser import BROWSER_SECONDS, LoopThread, chromium
from tests.page.support import assert_nothing_secret
from tests.runtime.rig import TOKEN, emulator, new_clock

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "status-page.png"
# Only a deliberate run refreshes the committed screenshot (UPDATE_SCREENSHOT=1): a test run
# leaves the working tree as it found it.
UPDATE_SCREENSHOT = os.environ.get("UPDATE_SCREENSHOT") == "1"
LOOPBACK = HttpConfig(listen="127.0.0.1:0")
# The page's load bound with 10,000 people (issue 14). Measured on the wall clock from the test's
# side (request sent -> every row in the browser's memory and the first screen drawn): it includes
# building 10,000 rows in the bridge and shipping them, so a shared, loaded CI machine is slower
# than a desk; a quiet machine takes well under half of it.
LOAD_SECONDS = 2.0
MANY = 10_000


def wait_until(driver: Any, condition: Callable[[Any], object], what: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, BROWSER_SECONDS, poll_frequency=0.05).until(condition, what)


def row_of(driver: Any, person: str) -> dict[str, str] | None:
    """The person's row as drawn: lamp and cell texts (None when not drawn)."""
    found = driver.execute_script(
        """const el = document.querySelector(`#visible .row[data-person="${arguments[0]}"]`);
        if (!el) return null;
        const cells = {lamp: el.dataset.lamp};
        for (const span of el.querySelectorAll("span[class]")) cells[span.className] = span.textContent;
        return cells;""",
        person,
    )
    return found  # type: ignore[no-any-return]


def drawn(driver: Any) -> list[str]:
    return driver.execute_script(  # type: ignore[no-any-return]
        "return [...document.querySelectorAll('#visible .row')].map(el => el.dataset.person)"
    )


def first_event(url: str, headers: dict[str, str] | None = None) -> str:
    """The stream's opening event (the whole table), as text."""
    lines: list[str] = []
    with httpx.stream("GET", url + "/events", headers=headers, timeout=BROWSER_SECONDS, trust_env=False) as r:
        for line in r.iter_lines():
            lines.append(line)
            if line == "" and any(x.startswith("data:") for x in lines):
                break
    return "\n".join(lines)


@contextlib.asynccontextmanager
async def demo_page() -> AsyncIterator[tuple[Demo, ServedApp]]:
    async with Demo.start() as demo, serve_status(demo.service, LOOPBACK, shows=demo.teams) as served:
        yield demo, served


def test_alice_turns_busy_live_and_the_dnd_filter_shows_erin(tmp_path: Path) -> None:
    loop = LoopThread()
    with chromium(height=600) as driver, loop.enter(demo_page) as (demo, served):
        driver.get(served.base_url + "/")
        wait_until(
            driver, lambda d: d.find_element("tag name", "body").get_attribute("data-loaded") == "5", "load"
        )
        driver.execute_script("window.notReloaded = true")
        for extension in ("1001", "1002", "1003", "1004", "1005"):
            loop.run(demo.send(extension, {"line": "idle", "dnd": False}))
        wait_until(driver, lambda d: (row_of(d, "Alice") or {}).get("lamp") == "idle", "Alice idle")

        loop.run(demo.send("1001", {"line": "in_call"}))
        wait_until(driver, lambda d: (row_of(d, "Alice") or {}).get("lamp") == "busy", "Alice busy")
        wait_until(driver, lambda d: (row_of(d, "Alice") or {}).get("teams") == "Busy/InACall", "Teams Busy")
        alice = row_of(driver, "Alice")
        assert alice is not None and alice["pbx"] == "in_call" and alice["desired"] == "Busy/InACall"
        assert driver.execute_script("return window.notReloaded === true"), "the page reloaded"

        loop.run(demo.send("1002", {"line": "ringing"}))
        loop.run(demo.send("1003", {"line": "in_conference"}))
        loop.run(demo.send("1005", {"dnd": True}))
        wait_until(driver, lambda d: (row_of(d, "Erin") or {}).get("lamp") == "dnd", "Erin DND")
        wait_until(
            driver, lambda d: (row_of(d, "Carol") or {}).get("teams") == "Busy/InAConferenceCall", "Carol"
        )
        wait_until(driver, lambda d: d.find_element("id", "n-dnd").text == "1", "DND count")
        assert driver.save_screenshot(str(DOCS_SCREENSHOT if UPDATE_SCREENSHOT else tmp_path / "page.png"))

        driver.find_element("css selector", '#filters button[data-filter="dnd"]').click()
        wait_until(driver, lambda d: drawn(d) == ["Erin"], "only Erin under DND")
        driver.find_element("css selector", '#filters button[data-filter="call"]').click()
        wait_until(driver, lambda d: sorted(drawn(d)) == ["Alice", "Bob", "Carol"], "the three in a call")
        assert driver.execute_script("return window.notReloaded === true"), "the page reloaded"

        driver.find_element("css selector", '#filters button[data-filter="all"]').click()
        driver.set_window_size(390, 780)  # a phone: two lines per person, nothing wider than the screen
        wait_until(driver, lambda d: len(drawn(d)) == 5, "all five on a phone")
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        alice = row_of(driver, "Alice")
        assert alice is not None and alice["pbx"] == "in_call"
        assert driver.execute_script(
            "return document.querySelector('#visible .row .name').getBoundingClientRect().width > 0"
        )
        driver.save_screenshot(str(Path(tmp_path) / "phone.png"))

        assert_nothing_secret(driver.page_source)
        stream = first_event(served.base_url)
        assert '"person":"Alice"' in stream
        assert_nothing_secret(stream)


@dataclass(frozen=True)
class Someone:
    name: str
    extension: str
    object_id: str


def crowd() -> list[Someone]:
    return [
        Someone(f"Person {i:05d}", str(20000 + i), f"{i:08x}-0000-4000-8000-{i:012x}") for i in range(MANY)
    ]


@contextlib.asynccontextmanager
async def crowded_page(tmp: Path) -> AsyncIterator[ServedApp]:
    clock = new_clock()
    async with emulator(tmp, clock) as handle:
        config = load_config_text(
            demo_yaml(handle, TOKEN, tmp / "state.db", people=crowd()), "<10k>", environ={}
        )
        async with running_service(config, clock) as service, serve_status(service, LOOPBACK) as served:
            yield served


def test_ten_thousand_people_load_within_two_seconds_and_stay_searchable(tmp_path: Path) -> None:
    loop = LoopThread()
    with chromium() as driver, loop.enter(lambda: crowded_page(tmp_path)) as served:
        driver.get(served.base_url + "/page/page.css")  # the browser is up and the origin warm
        began = time.monotonic()
        driver.get(served.base_url + "/")
        wait_until(
            driver,
            lambda d: d.find_element("tag name", "body").get_attribute("data-loaded") == str(MANY),
            "load",
        )
        wait_until(driver, lambda d: bool(drawn(d)), "first screen")
        took = time.monotonic() - began
        assert took < LOAD_SECONDS, f"10,000 people took {took:.2f} s to load"
        assert drawn(driver)[0] == "Person 00000"
        assert len(drawn(driver)) < 100, "only the rows in view are in the page"

        driver.find_element("id", "search").send_keys("Person 09999")
        wait_until(driver, lambda d: drawn(d) == ["Person 09999"], "search")
        driver.execute_script("document.getElementById('search').value = ''")
        driver.find_element("id", "search").send_keys("2")  # scrolling the whole table works too
        driver.execute_script("const v = document.getElementById('viewport'); v.scrollTop = v.scrollHeight")
        wait_until(driver, lambda d: "Person 09999" in drawn(d), "scrolled to the end")
