"""A real headless Chromium for tests: Debian's `chromium`, driven by Playwright.

Why Playwright: it comes from PyPI, drives an installed Chromium through `executable_path`
without downloading a browser of its own (we never run `playwright install`), is async (it runs
in the test's event loop next to the aiohttp servers under test), and every action waits on a
condition with a bound (`DEFAULT_TIMEOUT_MS`) instead of a sleep. Selenium would need Debian's
`chromium-driver` too and is blocking; raw DevTools over a websocket would mean owning a driver.

Use it from a test module with `pytest_plugins = ["tests.browser"]` (or from the root conftest),
then take the `browser` fixture:

    async def test_page(browser: Browser) -> None:
        assert await browser.open(url) == 200
        await browser.fill("#org", "my-org")
        await browser.click_button("Register on GitHub")
        await browser.wait_for_text("Create GitHub App")
        await browser.screenshot(tmp_path / "page.png")

With no Chromium installed (or no Playwright) the fixture skips the test, saying why.
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, ConsoleMessage, Page, Request, Response

__all__ = ["CHROMIUM_ARGS", "DEFAULT_TIMEOUT_MS", "Browser", "browser", "find_chromium"]

CHROMIUM_CANDIDATES = ("chromium", "/usr/bin/chromium")
# A closed network refuses Chromium's background connections (updates, sync, QUIC probes) and a
# container has no user namespace for its sandbox: switch all of that off, and start it fresh.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DEFAULT_TIMEOUT_MS = 10_000
LAUNCH_TIMEOUT_MS = 60_000
ERROR_PAGE_TIMEOUT_MS = 2_000
SKIP_NO_CHROMIUM = "no Chromium: install Debian's chromium (apt-get install chromium) to run the headless-browser tests"
SKIP_NO_PLAYWRIGHT = "playwright is not installed: pip install -e '.[dev]' to run the headless-browser tests"


def find_chromium() -> str | None:
    """The system Chromium's path, or None."""
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def _is_favicon(url: str) -> bool:
    return url.split("?")[0].endswith("/favicon.ico")  # Chromium asks every site for one


class Browser:
    """One page of a fresh Chromium profile, with the few verbs a page test needs.

    `page` is Playwright's `Page` for anything else. Script errors, `console.error` calls and failed
    resources of every page land in `errors`, so a test can assert that a page ran cleanly."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.context = context
        self.page = page
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", self._on_console)
        page.on("response", self._on_response)
        page.on("requestfailed", self._on_request_failed)

    # A document's own status is what `open` returns; what counts as an error of the page is a
    # script error, a console.error, or a resource it uses (script, style, image, fetch) failing.
    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    def _on_response(self, response: Response) -> None:
        request = response.request
        if response.status >= 400 and not request.is_navigation_request() and not _is_favicon(request.url):
            self.errors.append(f"resource: {response.status} {request.method} {request.url}")

    def _on_request_failed(self, request: Request) -> None:
        if not request.is_navigation_request() and not _is_favicon(request.url):
            self.errors.append(f"resource: failed {request.method} {request.url}: {request.failure}")

    @property
    def url(self) -> str:
        return self.page.url

    async def open(self, url: str) -> int:
        """Go to `url`, wait for it to load, and return the HTTP status of the document.

        A 401 with a Basic challenge is returned as 401: headless Chromium has no login dialog to
        show, so it fails the navigation instead (`net::ERR_INVALID_AUTH_CREDENTIALS`)."""
        from playwright.async_api import Error as PlaywrightError

        try:
            response = await self.page.goto(url, wait_until="load")
        except PlaywrightError as exc:
            if "net::ERR_INVALID_AUTH_CREDENTIALS" not in str(exc):
                raise
            await self._error_page_shown()
            return 401
        return response.status if response is not None else 0

    async def _error_page_shown(self) -> None:
        """Chromium commits its own error page just after a failed navigation; wait for it (bounded),
        or it interrupts the next `open`."""
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        try:
            await self.page.wait_for_url(re.compile(r"^chrome-error://"), timeout=ERROR_PAGE_TIMEOUT_MS)
        except PlaywrightTimeout:
            pass  # a Chromium that shows none

    async def click(self, selector: str) -> None:
        """Click the element `selector` matches (CSS, or Playwright's `text=...`/`role=...`)."""
        await self.page.locator(selector).click()

    async def click_button(self, name: str) -> None:
        """Click the button whose accessible name is `name` (what a person reads on it)."""
        await self.page.get_by_role("button", name=name).click()

    async def fill(self, selector: str, value: str) -> None:
        await self.page.locator(selector).fill(value)

    async def text(self, selector: str = "body") -> str:
        """The rendered text of the (first) element `selector` matches."""
        return await self.page.locator(selector).first.inner_text()

    async def wait_for_text(
        self, text: str | re.Pattern[str], selector: str = "body", timeout_ms: int | None = None
    ) -> None:
        """Wait until the element shows `text`; fail with the page's text after the bound."""
        from playwright.async_api import expect

        await expect(self.page.locator(selector).first).to_contain_text(text, timeout=timeout_ms or DEFAULT_TIMEOUT_MS)

    async def wait_for_url(self, url: str | re.Pattern[str], timeout_ms: int | None = None) -> None:
        """Wait until the page's address matches (a glob like `**/callback?*`, or a regex) and it has loaded."""
        await self.page.wait_for_url(url, timeout=timeout_ms or DEFAULT_TIMEOUT_MS)

    async def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(path), full_page=full_page)
        return path

    async def basic_auth(self, username: str, password: str | None) -> None:
        """Send HTTP Basic credentials with every request from now on (None: stop sending them)."""
        if password is None:
            await self.page.set_extra_http_headers({})
            return
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        await self.page.set_extra_http_headers({"Authorization": f"Basic {token}"})


@pytest_asyncio.fixture
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    """A headless Chromium with a fresh profile, closed after the test; skips when there is none."""
    executable = find_chromium()
    if executable is None:
        pytest.skip(SKIP_NO_CHROMIUM)
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip(SKIP_NO_PLAYWRIGHT)
    profile = tmp_path_factory.mktemp("chromium-profile")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=list(CHROMIUM_ARGS),
            timeout=LAUNCH_TIMEOUT_MS,
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            page.set_default_timeout(DEFAULT_TIMEOUT_MS)
            yield Browser(context, page)
        finally:
            await context.close()
