"""The manual source's web page: click the undesired samples, served by the standard library.

`PickSession` holds the picks and writes the picks file after every change; `serve(...)` runs a
`ThreadingHTTPServer` in a daemon thread until the page says "done" (or Ctrl-C), and always
shuts it down before returning, so the server never outlives the command.

Security, for a page that may be reached through SSH port forwarding:
- it binds 127.0.0.1 unless told otherwise (a warning for any other address);
- every request must carry the random token printed with the URL (``?token=`` or the
  ``X-Pick-Token`` header): without it, 403; the comparison is constant-time;
- only the routes below exist (no file-system paths are ever served); request bodies are at
  most MAX_BODY bytes (413) and must be JSON objects (400); requests time out;
- responses are not cached and send no referrer (the token is in the URL).

Routes: GET / (the page), GET /api/state, GET /sample/N.png, POST /api/pick {"sample": N,
"picked": true|false}, POST /api/more {"count": N}, POST /api/done.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import re
import secrets
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from unlearn_cli.api import UnlearnError

from .picks_file import Picks

MAX_BODY = 4096          # bytes of a request body: the page sends a few dozen
MORE_MAX = 256           # samples one "more samples" adds at most
DEFAULT_PORT = 8765      # tried first when no --port is given (easy to forward over SSH)
REQUEST_TIMEOUT = 30     # seconds a connection may stay silent
_SAMPLE_ROUTE = re.compile(r"/sample/(\d{1,9})\.png")


class PickSession:
    """The picks being made: shared by the server's threads, saved after every change."""

    def __init__(self, picks: Picks, path: Path, limit: int, thumbnail: Callable[[int], bytes]):
        self.picks, self.path, self.limit, self.thumbnail = picks, Path(path), limit, thumbnail
        self.done = threading.Event()
        self._lock = threading.Lock()
        self.picks.shown = min(self.picks.shown, limit)
        self.picks.picked = sorted(p for p in set(self.picks.picked) if 1 <= p <= self.picks.shown)
        self.picks.save(self.path)

    def state(self) -> dict:
        with self._lock:
            return {"shown": self.picks.shown, "picked": list(self.picks.picked), "limit": self.limit,
                    "seed": self.picks.seed, "model": self.picks.identity.model,
                    "done": self.done.is_set()}

    def set_picked(self, number: int, picked: bool) -> dict:
        with self._lock:
            if not 1 <= number <= self.picks.shown:
                raise ValueError(f"sample {number} is not shown; samples run 1-{self.picks.shown}")
            chosen = set(self.picks.picked)
            chosen.add(number) if picked else chosen.discard(number)
            self.picks.picked = sorted(chosen)
            self.picks.save(self.path)
        return self.state()

    def more(self, count: int) -> dict:
        with self._lock:
            self.picks.shown = min(self.limit, self.picks.shown + max(1, min(count, MORE_MAX)))
            self.picks.save(self.path)
        return self.state()

    def finish(self) -> dict:
        with self._lock:
            n, shown = len(self.picks.picked), self.picks.shown
        if n == 0:
            raise ValueError("no sample is picked: click the undesired ones first")
        if n == shown:
            raise ValueError(f"all {shown} samples are picked: leave at least one to serve as a positive")
        self.done.set()
        return self.state()


def _page() -> bytes:
    return resources.files(__package__).joinpath("pick_page.html").read_bytes()


def make_handler(session: PickSession, token: str) -> type[BaseHTTPRequestHandler]:
    page = _page()

    class Handler(BaseHTTPRequestHandler):
        server_version = "gan-unlearn-pick"
        sys_version = ""
        timeout = REQUEST_TIMEOUT
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # quiet: request lines would print the token
            pass

        # ----------------------------------------------------------------- plumbing
        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Content-Security-Policy",
                             "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
                             "script-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, data: dict) -> None:
            self._send(status, json.dumps(data).encode(), "application/json")

        def _error(self, status: int, message: str) -> None:
            self._json(status, {"error": message})

        def _authorised(self) -> bool:
            given = parse_qs(urlsplit(self.path).query).get("token", [""])[0]
            given = self.headers.get("X-Pick-Token", given)
            return hmac.compare_digest(given.encode(), token.encode())

        def _body(self) -> dict | None:
            """The request's JSON object, or None after answering 411/413/400."""
            length = self.headers.get("Content-Length")
            if length is None:
                self._error(411, "a Content-Length header is required")
                return None
            if not length.isdigit():
                self._error(400, "Content-Length must be a number")
                return None
            if int(length) > MAX_BODY:
                self.close_connection = True  # the body is not read: drop the connection
                self._error(413, f"request body larger than {MAX_BODY} bytes")
                return None
            raw = self.rfile.read(int(length))
            try:
                data = json.loads(raw or b"{}")
            except ValueError:
                data = None
            if not isinstance(data, dict):
                self._error(400, "the request body must be a JSON object")
                return None
            return data

        # ----------------------------------------------------------------- routes
        def do_GET(self):
            if not self._authorised():
                return self._error(403, "the token is missing or wrong: open the URL printed in the terminal")
            route = urlsplit(self.path).path
            if route == "/":
                return self._send(200, page, "text/html; charset=utf-8")
            if route == "/api/state":
                return self._json(200, session.state())
            match = _SAMPLE_ROUTE.fullmatch(route)
            if match:
                number = int(match.group(1))
                if not 1 <= number <= session.state()["shown"]:
                    return self._error(404, f"sample {number} is not shown")
                return self._send(200, session.thumbnail(number), "image/png")
            return self._error(404, "no such page")

        do_HEAD = do_GET

        def do_POST(self):
            if not self._authorised():
                return self._error(403, "the token is missing or wrong: open the URL printed in the terminal")
            route = urlsplit(self.path).path
            if route not in ("/api/pick", "/api/more", "/api/done"):
                return self._error(404, "no such page")
            data = self._body()
            if data is None:
                return None
            try:
                if route == "/api/pick":
                    number, picked = data.get("sample"), data.get("picked")
                    if not _is_int(number) or not isinstance(picked, bool):
                        raise ValueError('send {"sample": NUMBER, "picked": true or false}')
                    return self._json(200, session.set_picked(number, picked))
                if route == "/api/more":
                    count = data.get("count", 64)
                    if not _is_int(count) or count < 1:
                        raise ValueError('send {"count": N} with N >= 1')
                    return self._json(200, session.more(count))
                return self._json(200, session.finish())
            except ValueError as exc:
                return self._error(400, str(exc))
            except UnlearnError as exc:  # e.g. the picks file could not be written
                return self._error(500, str(exc))

        def _refuse(self):
            self._error(405, "only GET and POST are served")

        do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    return Handler


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True       # a hanging request never keeps the process alive
    allow_reuse_address = False  # two tools on one port must not both think they own it


class _Server6(_Server):
    address_family = socket.AF_INET6


def bind(session: PickSession, token: str, host: str, port: int | None) -> ThreadingHTTPServer:
    """A server for the session on host:port; port None: DEFAULT_PORT, else any free port."""
    server_class = _Server6 if ":" in host else _Server
    handler = make_handler(session, token)
    for candidate in ([port] if port is not None else [DEFAULT_PORT, 0]):
        try:
            return server_class((host, candidate), handler)
        except OSError as exc:
            if port is None and candidate == DEFAULT_PORT:
                continue  # the default is taken: let the system choose a free one
            raise UnlearnError(f"cannot serve the pick page on {host}:{candidate}: "
                               f"{exc.strerror or exc}; pass another --port or --host") from exc
    raise AssertionError("unreachable")


def url_of(server: ThreadingHTTPServer, host: str, token: str) -> str:
    port = server.server_address[1]
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}/?token={token}"


def serve(session: PickSession, host: str = "127.0.0.1", port: int | None = None,
          announce: Callable[[str], None] | None = None) -> None:
    """Serve the page until it says done; Ctrl-C stops it too (KeyboardInterrupt propagates).

    ``announce(url)`` is called once the server listens (tests read the URL there); by default
    the URL is printed on stderr with how to reach it from another machine.
    """
    token = secrets.token_urlsafe(24)
    server = bind(session, token, host, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="gan-unlearn-pick", daemon=True)
    try:
        thread.start()
        url = url_of(server, host, token)
        (announce or _print_url)(url)
        if not is_loopback(host):
            _say(f"warning: the pick page listens on {host}, reachable from other machines; anyone "
                 f"with the URL can pick. On a shared network prefer 127.0.0.1 and SSH forwarding")
        while not session.done.wait(0.2):  # short waits, so Ctrl-C is seen promptly
            pass
    except KeyboardInterrupt:
        _say(f"interrupted; the picks so far are saved in {session.path}: continue with "
             f"--pick-file {session.path}")
        raise
    finally:
        if thread.is_alive():
            server.shutdown()  # waits for serve_forever to return
        server.server_close()
        thread.join(timeout=5)


def _print_url(url: str) -> None:
    port = urlsplit(url).port
    _say(f"pick the undesired samples in a browser at:\n    {url}\n"
         f"(on a remote machine: ssh -L {port}:127.0.0.1:{port} HOST, then open the URL on your "
         f"computer; keys: arrows move, space/x picks, n/p pages, m more samples, Enter done)")


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
