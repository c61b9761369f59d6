"""The pick page's server: token, routes, bounded bodies, persistence, shutdown; the picks file."""
import http.client
import json
import socket
import threading
from urllib.parse import urlsplit

import pytest
import torch

from unlearn_cli.api import UnlearnError
from unlearn_cli_plugins.sources import picks_file
from unlearn_cli_plugins.sources.pick_server import MAX_BODY, PickSession, serve
from unlearn_cli_plugins.sources.picks_file import ModelIdentity, Picks
from unlearn_cli_plugins.sources.sample_stream import SampleStream

from source_fakes import FakeGenerator


class Served:
    """A session served in a background thread, as `serve` runs it for the manual source."""

    def __init__(self, context, path, shown=64, limit=200, host="127.0.0.1"):
        self.stream = SampleStream(context, seed=0)
        self.path = path
        picks = Picks(ModelIdentity.of(context), 0, shown, [])
        self.session = PickSession(picks, path, limit, self.stream.thumbnail)
        ready = threading.Event()
        self.error = None

        def announce(url):
            self.url = url
            ready.set()

        def target():
            try:
                serve(self.session, host, 0, announce=announce)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.error = exc
                ready.set()

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        assert ready.wait(10) and self.error is None, self.error
        parts = urlsplit(self.url)
        self.port, self.token = parts.port, parts.query.split("=", 1)[1]

    def request(self, method, route, body=None, token="default", headers=None, raw=None):
        """(status, parsed JSON or bytes) of one request; token None sends none."""
        token = self.token if token == "default" else token
        if token is not None:
            route += ("&" if "?" in route else "?") + f"token={token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        conn.request(method, route, body=data, headers=headers or {})
        response = conn.getresponse()
        content = response.read()
        conn.close()
        if response.getheader("Content-Type", "").startswith("application/json"):
            return response.status, json.loads(content)
        return response.status, content

    def on_disk(self):
        return json.loads(self.path.read_text())

    def stop(self):
        self.session.done.set()
        self.thread.join(10)


@pytest.fixture
def served(make_context, tmp_path):
    made = []

    def make(**kwargs):
        made.append(Served(make_context(), tmp_path / "picks.json", **kwargs))
        return made[-1]

    yield make
    for s in made:
        s.stop()


def test_the_page_and_its_state(served):
    s = served()
    status, page = s.request("GET", "/")
    assert status == 200 and b"<title>gan-unlearn" in page
    assert b"http://" not in page and b"https://" not in page  # no CDN, nothing from elsewhere
    status, state = s.request("GET", "/api/state")
    assert status == 200 and state["shown"] == 64 and state["picked"] == [] and not state["done"]
    status, png = s.request("GET", "/sample/1.png")
    assert status == 200 and png.startswith(b"\x89PNG")
    assert s.session.picks.identity.model == "bundled:digits"


def test_binds_loopback_by_default(served):
    s = served()
    assert urlsplit(s.url).hostname == "127.0.0.1"


@pytest.mark.parametrize("method, route", [("GET", "/"), ("GET", "/api/state"), ("GET", "/sample/1.png"),
                                           ("POST", "/api/pick"), ("POST", "/api/done"),
                                           ("GET", "/../../etc/passwd")])
@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_requests_without_the_token_are_refused(served, method, route, token):
    s = served()
    status, data = s.request(method, route, body={"sample": 1, "picked": True}, token=token)
    assert status == 403 and "token" in data["error"]
    assert s.session.picks.picked == [] and not s.session.done.is_set()


def test_token_in_a_header(served):
    s = served()
    status, state = s.request("POST", "/api/pick", {"sample": 2, "picked": True}, token=None,
                              headers={"X-Pick-Token": s.token, "Content-Type": "application/json"})
    assert status == 200 and state["picked"] == [2]


def test_only_the_tools_routes(served):
    s = served()
    for route in ("/etc/passwd", "/../picks.json", "/sample/../picks.json", "/picks.json", "/api"):
        assert s.request("GET", route)[0] == 404
    assert s.request("GET", "/sample/65.png")[0] == 404  # not shown yet
    assert s.request("GET", "/sample/0.png")[0] == 404
    assert s.request("PUT", "/api/pick", {"sample": 1, "picked": True})[0] == 405


@pytest.mark.parametrize("raw, message", [
    (b"{not json", "JSON object"), (b"[1, 2]", "JSON object"), (b'{"sample": "3", "picked": true}', "sample"),
    (b'{"sample": 3}', "picked"), (b'{"sample": 3, "picked": 1}', "picked"),
    (b'{"sample": 65, "picked": true}', "not shown"), (b'{"sample": 0, "picked": true}', "not shown"),
])
def test_bad_input_is_400(served, raw, message):
    s = served()
    status, data = s.request("POST", "/api/pick", raw=raw)
    assert status == 400 and message in data["error"]
    assert s.on_disk()["picked"] == []


def test_oversized_body_is_413(served):
    s = served()
    status, data = s.request("POST", "/api/pick", raw=b" " * (MAX_BODY + 1))
    assert status == 413
    assert s.request("GET", "/api/state")[0] == 200  # the server carries on


def test_body_without_length_is_411(served):
    s = served()
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    conn.putrequest("POST", f"/api/pick?token={s.token}")
    conn.endheaders()
    assert conn.getresponse().status == 411


def test_toggling_is_saved_on_disk_after_every_change(served):
    s = served()
    for number, picked, expected in [(3, True, [3]), (7, True, [3, 7]), (3, False, [7]),
                                     (7, True, [7]), (12, True, [7, 12])]:
        status, state = s.request("POST", "/api/pick", {"sample": number, "picked": picked})
        assert status == 200 and state["picked"] == expected
        saved = s.on_disk()
        assert saved["picked"] == expected and saved["seed"] == 0 and saved["shown"] == 64
        assert saved["format"] == "gan-unlearn-picks" and saved["model"] == "bundled:digits"
    assert not list(s.path.parent.glob(".picks.json.*"))  # atomic writes leave no temp file


def test_a_reopened_page_sees_the_picks(served):
    s = served()
    s.request("POST", "/api/pick", {"sample": 5, "picked": True})
    assert s.request("GET", "/api/state")[1]["picked"] == [5]  # what a new tab loads


def test_more_samples(served):
    s = served(limit=100)
    status, state = s.request("POST", "/api/more", {"count": 32})
    assert status == 200 and state["shown"] == 96 and s.on_disk()["shown"] == 96
    assert s.request("GET", "/sample/96.png")[0] == 200
    assert s.request("POST", "/api/more", {"count": 32})[1]["shown"] == 100  # the limit
    assert s.request("POST", "/api/more", {"count": 0})[0] == 400


def test_more_samples_are_the_same_stream(make_context):
    """Sample k is the same image however many were generated: pages never reshuffle."""
    gen = FakeGenerator()
    stream = SampleStream(make_context(generator=gen), seed=3)
    assert torch.equal(stream.first(150)[:64], stream.first(64))
    assert torch.equal(stream.first(150)[100:130], stream.first(130)[100:])
    other = SampleStream(make_context(generator=FakeGenerator()), seed=3)
    assert other.thumbnail(70) == stream.thumbnail(70) and other.thumbnail(70) != stream.thumbnail(71)
    assert not torch.equal(SampleStream(make_context(), seed=4).first(8), stream.first(8))


def test_done_ends_the_server(served):
    s = served()
    status, data = s.request("POST", "/api/done", {})
    assert status == 400 and "no sample is picked" in data["error"]
    s.request("POST", "/api/pick", {"sample": 9, "picked": True})
    status, state = s.request("POST", "/api/done", {})
    assert status == 200 and state["done"]
    s.thread.join(10)
    assert not s.thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.port), timeout=2)
    assert not [t for t in threading.enumerate() if t.name == "gan-unlearn-pick"]


def test_done_refuses_all_picked(served):
    s = served(shown=2, limit=2)
    for n in (1, 2):
        s.request("POST", "/api/pick", {"sample": n, "picked": True})
    status, data = s.request("POST", "/api/done", {})
    assert status == 400 and "all 2 samples" in data["error"]


def test_ctrl_c_stops_the_server(make_context, tmp_path, capsys):
    context = make_context()
    session = PickSession(Picks(ModelIdentity.of(context), 0, 8, [2]), tmp_path / "p.json", 8,
                          SampleStream(context, 0).thumbnail)
    seen = {}

    def announce(url):
        seen["port"] = urlsplit(url).port
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        serve(session, "127.0.0.1", 0, announce=announce)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", seen["port"]), timeout=2)
    assert f"--pick-file {tmp_path / 'p.json'}" in capsys.readouterr().err
    assert json.loads((tmp_path / "p.json").read_text())["picked"] == [2]


def test_non_loopback_warns(served, capsys):
    served(host="0.0.0.0")
    assert "reachable from other machines" in capsys.readouterr().err


def test_a_taken_port_is_one_line(make_context, tmp_path):
    context = make_context()
    session = PickSession(Picks(ModelIdentity.of(context), 0, 8, []), tmp_path / "p.json", 8,
                          SampleStream(context, 0).thumbnail)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(UnlearnError, match="cannot serve the pick page on 127.0.0.1:.*--port"):
            serve(session, "127.0.0.1", busy.getsockname()[1])


# --------------------------------------------------------------------------- the picks file
def _picks_text(**changes):
    data = {"format": "gan-unlearn-picks", "version": 1, "model": "bundled:digits", "model_sha256": None,
            "resolution": 8, "channels": 1, "seed": 0, "shown": 64, "picked": [3, 7]}
    data.update(changes)
    return json.dumps(data)


def test_picks_file_round_trip(make_context, tmp_path):
    picks = Picks(ModelIdentity.of(make_context()), 5, 80, [9, 2])
    picks.save(tmp_path / "p.json")
    again = picks_file.parse((tmp_path / "p.json").read_text(), "p")
    assert again == Picks(picks.identity, 5, 80, [2, 9])


@pytest.mark.parametrize("text, message", [
    ("{oops", "not valid JSON"), ('{"a": 1}', "not a gan-unlearn picks file"),
    (_picks_text(version=2), "version 2"), (_picks_text(picked=[0]), "sample 0 was picked but only 1-64"),
    (_picks_text(picked=[65]), "only 1-64"), (_picks_text(picked="3,7"), "list of sample numbers"),
    (_picks_text(seed=-1), '"seed" must be a whole number'), (_picks_text(shown=True), '"shown"'),
    (_picks_text(model=None), '"model" is missing'), (_picks_text(model_sha256=5), "must be text"),
])
def test_bad_picks_files(text, message):
    with pytest.raises(UnlearnError, match=message) as info:
        picks_file.parse(text, "'p.json'")
    assert "\n" not in str(info.value)


def test_picks_for_another_model_or_seed_are_refused(make_context):
    context = make_context()
    picks_file.check_matches(picks_file.parse(_picks_text(), "p"), context, 0, "p")
    with pytest.raises(UnlearnError, match="pass --seed 3"):
        picks_file.check_matches(picks_file.parse(_picks_text(seed=3), "p"), context, 0, "p")
    with pytest.raises(UnlearnError, match="made on 'other.safetensors'"):
        picks_file.check_matches(picks_file.parse(_picks_text(model="other.safetensors"), "p"), context, 0, "p")
    with pytest.raises(UnlearnError, match="32 px"):
        picks_file.check_matches(picks_file.parse(_picks_text(resolution=32), "p"), context, 0, "p")
