"""Serve a view offline and look at it in headless Chromium.

- :func:`serve`: an HTTP server on 127.0.0.1 for an output folder of
  :func:`~synhelpers.views.neuroglancer.write_view` (with CORS headers, so the public
  viewer may read it) and, under ``/v/static/``, the Neuroglancer client that ships inside
  the ``neuroglancer`` Python package (``neuroglancer/static/client/``), so nothing needs
  the internet.
- :func:`find_chromium`, :class:`DevTools`: a headless Chromium page to drive
  (used by :mod:`~synhelpers.views.neuroglancer_screenshot`).

Chromium is driven through the Chrome DevTools protocol over one websocket
(``websocket-client``, already installed with Jupyter), not selenium or playwright: four
commands (navigate, evaluate, screenshot, close) do not justify a driver binary or a
browser download. Headless Chromium without a GPU renders WebGL 2 with SwiftShader
(``--use-angle=swiftshader --enable-unsafe-swiftshader``).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

__all__ = ["serve", "ViewServer", "find_chromium", "BrowserUnavailable", "CHROMIUM_FLAGS",
           "client_dir", "DevTools"]

#: Flags for a quiet, offline, GPU-less headless Chromium.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--hide-scrollbars",
    "--mute-audio", "--disable-dev-shm-usage",
)
#: Where :func:`serve` puts the bundled client. The client reads a server "token" from
#: ``/v/<token>/`` in its path and fails to start elsewhere.
CLIENT_PATH = "/v/static/"
_MIME = {".wasm": "application/wasm", ".js": "text/javascript", ".map": "application/json",
         ".css": "text/css", ".html": "text/html", ".json": "application/json"}


class BrowserUnavailable(RuntimeError):
    """No Chromium was found, or it did not start."""


def client_dir() -> Path:
    """Folder of the Neuroglancer client bundled in the ``neuroglancer`` package."""
    import neuroglancer.static

    path = Path(neuroglancer.static.__file__).parent / "client"
    if not (path / "index.html").is_file():
        raise FileNotFoundError(f"{path}: the neuroglancer package has no bundled client")
    return path


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Files of ``directory``, ``/v/static/*`` from the bundled client, in-memory files from
    ``server.extra``; CORS headers on everything."""

    def __init__(self, *args, directory: str, client: str | None, **kwargs):
        self._client = client
        super().__init__(*args, directory=directory, **kwargs)

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        if self._client and clean.startswith(CLIENT_PATH):
            name = os.path.basename(clean[len(CLIENT_PATH):]) or "index.html"
            return os.path.join(self._client, name)
        return super().translate_path(path)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self._client and self.path.startswith("/events/"):
            return self._idle_event_stream()
        body = self.server.extra.get(self.path.split("?", 1)[0])
        if body is None:
            return super().do_GET()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _idle_event_stream(self) -> None:
        """The bundled client expects a Python server's event stream at ``/events/<token>``
        and shows "Disconnected" while it has none: give it one that stays silent."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(b": no Python server, static files only\n\n")
            self.wfile.flush()
            while not self.server.closing.wait(0.25):
                pass

    def guess_type(self, path) -> str:
        return _MIME.get(Path(str(path)).suffix, "application/octet-stream")

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        # Chrome asks this before a public page (neuroglancer-demo.appspot.com) reads localhost
        self.send_header("Access-Control-Allow-Private-Network", "true")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_OPTIONS(self) -> None:  # noqa: N802
        self.send_response(204)
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.end_headers()

    def log_message(self, format, *args) -> None:  # noqa: A002 - http.server's signature
        self.server.requests.append(self.path)


class ViewServer(http.server.ThreadingHTTPServer):
    """A running :func:`serve`.

    Attributes:
        url: base URL, ``http://127.0.0.1:PORT``.
        requests: paths asked for so far, in order.
        extra: in-memory files, ``{"/path": bytes}``, served before the folder's.
    """

    daemon_threads = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requests: list[str] = []
        self.extra: dict[str, bytes] = {}
        self.closing = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.closing.set()
        self.shutdown()
        self.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def serve(out_dir: str | Path, port: int = 9000, *, viewer: bool = True,
          block: bool = True) -> ViewServer:
    """Serve ``out_dir`` on ``http://127.0.0.1:port`` (and the bundled viewer at ``/v/static/``).

    Args:
        out_dir: the folder to serve (a :func:`write_view` output).
        port: TCP port; 0 picks a free one (read it back from ``server.url``).
        viewer: also serve the Neuroglancer client bundled in the ``neuroglancer`` package,
            so ``{server.url}/v/static/#!{server.url}/state.json`` opens the view offline.
        block: serve until interrupted (Ctrl-C); with ``False``, serve from a background
            thread and return at once (call ``server.close()`` when done).
    """
    if not Path(out_dir).is_dir():
        raise FileNotFoundError(f"nothing to serve: {out_dir} is not a folder")
    handler = functools.partial(_Handler, directory=str(out_dir),
                                client=str(client_dir()) if viewer else None)
    server = ViewServer(("127.0.0.1", port), handler)
    if not block:
        threading.Thread(target=server.serve_forever, daemon=True, name="view-server").start()
        return server
    print(f"serving {out_dir} at {server.url}; offline viewer: "
          f"{server.url}{CLIENT_PATH}#!{server.url}/state.json (Ctrl-C stops)")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server.server_close()
    return server


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary (``$SYNHELPERS_CHROMIUM`` first), or ``None``."""
    names = [os.environ.get("SYNHELPERS_CHROMIUM", ""), "chromium", "chromium-browser",
             "google-chrome", "google-chrome-stable", "chrome"]
    return next((p for p in map(shutil.which, filter(None, names)) if p), None)


class DevTools:
    """Headless Chromium with one page, driven over the DevTools protocol (a context manager).

    Every wait has a deadline; leaving the context closes the browser, or kills the process
    group it started.

    Raises:
        BrowserUnavailable: no Chromium, or it did not start within ``timeout_s``.
    """

    def __init__(self, chromium: str | None = None, *, size=(1024, 768), timeout_s: float = 20):
        self.binary = chromium or find_chromium()
        if self.binary is None:
            raise BrowserUnavailable("no Chromium found (apt-get install -y chromium, or set "
                                     "SYNHELPERS_CHROMIUM to its path)")
        self.size, self.timeout_s = size, timeout_s
        self._id = 0
        self.console: list[str] = []

    def __enter__(self):
        import websocket  # websocket-client

        self._profile = tempfile.TemporaryDirectory(prefix="synhelpers-chromium-",
                                                    ignore_cleanup_errors=True)
        cmd = [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile.name}",
               "--remote-debugging-port=0", f"--window-size={self.size[0]},{self.size[1]}",
               "about:blank"]
        try:
            # its own process group, so that it can be ended with its renderer and helpers
            self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          start_new_session=True)
        except OSError as e:
            self._profile.cleanup()
            raise BrowserUnavailable(f"{self.binary} did not start: {e}") from e
        try:
            port = self._devtools_port()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            self._ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"],
                                                   timeout=self.timeout_s, suppress_origin=True)
            self.call("Runtime.enable")
            self.call("Emulation.setDeviceMetricsOverride", {  # exact viewport for screenshots
                "width": self.size[0], "height": self.size[1], "deviceScaleFactor": 1,
                "mobile": False})
        except BaseException:
            self._stop()
            raise
        return self

    def _devtools_port(self) -> int:
        """Chromium writes its DevTools port to ``<profile>/DevToolsActivePort`` once up."""
        marker = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace")[-800:]
                raise BrowserUnavailable(f"{self.binary} exited with code {self._proc.returncode}:"
                                         f"\n{err}")
            text = marker.read_text() if marker.exists() else ""
            if text.strip():
                return int(text.split()[0])
            time.sleep(0.05)
        raise BrowserUnavailable(f"{self.binary} did not open its DevTools port within "
                                 f"{self.timeout_s:.0f} s")

    def call(self, method: str, params: dict | None = None, timeout_s: float | None = None):
        """Send one DevTools command and return its result; console events are kept in
        ``self.console``."""
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            self._ws.settimeout(max(0.01, deadline - time.monotonic()))
            msg = json.loads(self._ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"DevTools {method}: {msg['error']}")
                return msg.get("result", {})
            if msg.get("method") == "Runtime.consoleAPICalled":
                args = msg["params"].get("args", [])
                self.console.append(" ".join(str(a.get("value", a.get("description", "")))
                                             for a in args))
            elif msg.get("method") == "Runtime.exceptionThrown":
                details = msg["params"]["exceptionDetails"]
                self.console.append(str(details.get("exception", {}).get("description")
                                        or details.get("text")))

    def evaluate(self, expression: str):
        """Value of a JavaScript expression in the page (JSON-serialisable values only)."""
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True})
        if "exceptionDetails" in res:
            d = res["exceptionDetails"]
            raise RuntimeError(f"page script failed: {d.get('exception', {}).get('description')}"
                               f" ({d.get('text')})")
        return res.get("result", {}).get("value")

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})

    def screenshot(self) -> bytes:
        """The page as PNG bytes."""
        return base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])

    def _stop(self) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close", timeout_s=3)
        with contextlib.suppress(Exception):
            self._ws.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)  # the group this object started
            self._proc.wait(timeout=5)
        self._profile.cleanup()

    def __exit__(self, *exc) -> None:
        self._stop()

