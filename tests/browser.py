"""A real headless browser for the tests: Debian's chromium, driven over the Chrome DevTools
protocol on 127.0.0.1.

    with Chromium(tmp_path) as browser:
        page = browser.open(path)          # loads the file, waits for its load event
        page.evaluate("document.title")   # what the page shows
        page.screenshot(tmp_path / "shot.png")
        page.errors, page.requests         # console errors, exceptions; every URL it asked for

The browser is started by its PID with a profile of its own in tmp_path and stopped by
that PID (SIGTERM, then SIGKILL). A missing `chromium` fails the test (.ci/run installs it):
the report's promise is that it opens in a browser, and a silent skip would hide that
it was never opened.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

# What in a page would make a browser fetch something: a web address in a src, href, url()
# and the like, or a script, stylesheet link, frame or embedded object of any kind.
FETCHES = re.compile(
    r"""(?:\b(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//)"""
    r"""|url\(\s*["']?\s*(?:https?:)?//|@import|<script|<link|<iframe|<object|<embed""",
    re.IGNORECASE,
)
START_TIMEOUT = 30.0
LOAD_TIMEOUT = 30.0
_LISTENING = re.compile(r"DevTools listening on (ws://127\.0\.0\.1:\d+/\S+)")


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found is not None:
            return found
    pytest.fail("chromium is not installed (apt-get install chromium; .ci/run does it)")


class Page:
    """One tab: what it logged and asked for, and questions put to it."""

    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session
        self.errors: list[str] = []
        self.requests: list[str] = []

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-able)."""
        reply = self.browser.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True},
            session=self.session,
        )
        if "exceptionDetails" in reply:
            raise AssertionError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """The whole page, however tall, as a PNG."""
        size = self.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
        )
        reply = self.browser.call(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1},
            },
            session=self.session,
        )
        path.write_bytes(base64.b64decode(reply["data"]))
        return path


class Chromium:
    def __init__(self, directory: Path, width: int = 1200, height: int = 900) -> None:
        self.directory = directory
        self.width, self.height = width, height
        self.process: subprocess.Popen[bytes] | None = None
        self.loop = asyncio.new_event_loop()
        self.socket: ClientConnection | None = None
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Chromium:
        profile = self.directory / "chromium-profile"
        profile.mkdir(exist_ok=True)
        log = (self.directory / "chromium.log").open("wb")
        self.process = subprocess.Popen(
            [
                find_chromium(),
                "--headless=new",
                "--no-sandbox",  # tests run as root in CI
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--hide-scrollbars",
                f"--window-size={self.width},{self.height}",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        url = self._wait_listening()
        self.socket = self.loop.run_until_complete(connect(url, max_size=None))
        return self

    def _wait_listening(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        log = self.directory / "chromium.log"
        while time.monotonic() < deadline:
            found = _LISTENING.search(log.read_text(errors="replace"))
            if found:
                return found.group(1)
            assert self.process is not None
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"chromium did not start: {log.read_text(errors='replace')}")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.socket is not None:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(self.socket.close())
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.loop.close()

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: str = "") -> Any:
        return self.loop.run_until_complete(self._call(method, params or {}, session))

    async def _call(self, method: str, params: dict[str, Any], session: str) -> Any:
        assert self.socket is not None
        ident = next(self.ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        await self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(await asyncio.wait_for(self.socket.recv(), LOAD_TIMEOUT))
            if reply.get("id") == ident:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    async def _until(self, session: str, method: str) -> None:
        for event in self.events:
            if event.get("sessionId") == session and event.get("method") == method:
                return
        assert self.socket is not None
        while True:
            event = json.loads(await asyncio.wait_for(self.socket.recv(), LOAD_TIMEOUT))
            self.events.append(event)
            if event.get("sessionId") == session and event.get("method") == method:
                return

    def open(self, path: Path) -> Page:
        """A new tab showing the file, once its load event has fired (and a moment for
        anything it would do after)."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        self.events.clear()
        self.call("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        self.loop.run_until_complete(self._until(session, "Page.loadEventFired"))
        self.loop.run_until_complete(asyncio.sleep(0.5))
        self._collect(page)
        return page

    def _collect(self, page: Page) -> None:
        # Drain what arrived since, then sort the events of this tab.
        assert self.socket is not None

        async def drain() -> None:
            assert self.socket is not None
            with contextlib.suppress(TimeoutError):
                while True:
                    self.events.append(json.loads(await asyncio.wait_for(self.socket.recv(), 0.2)))

        self.loop.run_until_complete(drain())
        for event in self.events:
            if event.get("sessionId") != page.session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                page.errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                page.errors.append(json.dumps(params.get("args", []))[:500])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                page.errors.append(params["entry"].get("text", ""))
            elif method == "Network.requestWillBeSent":
                page.requests.append(params.get("request", {}).get("url", ""))
