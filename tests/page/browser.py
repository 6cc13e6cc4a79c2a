"""A real headless browser (Debian's chromium through chromium-driver, driven by selenium) and a
bridge served on 127.0.0.1 from a thread of its own, so the synchronous WebDriver calls never
block the bridge's event loop.

Without chromium the browser tests skip, except where ``PAGE_BROWSER_REQUIRED=1`` (``.ci/run``
exports it and installs the packages) or a CI service sets ``CI``: there they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
BROWSER_SECONDS = 30.0  # bound on every wait for the page: generous, CI machines are shared


def browser_required() -> bool:
    return os.environ.get("PAGE_BROWSER_REQUIRED") == "1" or os.environ.get("CI", "").lower() not in (
        "",
        "0",
        "false",
    )


def find_chromium() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 760) -> Iterator[Any]:
    """A headless chromium WebDriver (skips, or fails where required, when none is installed)."""
    found = find_chromium()
    if found is None:
        if browser_required():
            pytest.fail("chromium and chromium-driver must be installed (.ci/run, apt-get)")
        pytest.skip(
            "no chromium/chromedriver: the browser tests skip (PAGE_BROWSER_REQUIRED=1 fails instead)"
        )
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--no-proxy-server")
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=found[1]))
    try:
        driver.set_page_load_timeout(BROWSER_SECONDS)
        yield driver
    finally:
        driver.quit()


class LoopThread:
    """An event loop in a thread; ``enter`` runs an async context manager in it for the test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bridge-loop", daemon=True)
        self._exit: asyncio.Event | None = None
        self._done: Future[None] | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = BROWSER_SECONDS) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @contextlib.contextmanager
    def enter(self, make: Callable[[], contextlib.AbstractAsyncContextManager[T]]) -> Iterator[T]:
        self._thread.start()
        entered: Future[T] = Future()

        async def hold() -> None:
            self._exit = asyncio.Event()
            try:
                async with make() as value:
                    entered.set_result(value)
                    await self._exit.wait()
            except BaseException as exc:
                if not entered.done():
                    entered.set_exception(exc)
                raise

        self._done = asyncio.run_coroutine_threadsafe(hold(), self.loop)  # type: ignore[assignment]
        try:
            yield entered.result(BROWSER_SECONDS)
        finally:
            exit_event = self._exit
            if exit_event is not None:
                self.loop.call_soon_threadsafe(exit_event.set)
            with contextlib.suppress(Exception):
                self._done.result(BROWSER_SECONDS)  # type: ignore[union-attr]
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(BROWSER_SECONDS)
            self.loop.close()
