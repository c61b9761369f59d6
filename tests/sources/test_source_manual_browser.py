"""The manual source through its browser page (driven over HTTP here; tests/sources/
test_pick_browser.py drives a real Chromium): the same picks give the same sets as the terminal."""
import http.client
import json
import sys
import threading
from urllib.parse import urlsplit

import pytest
import torch

from unlearn_cli.api import UnlearnError
from unlearn_cli.plugins import get_registry
from unlearn_cli_plugins.sources import common, pick_server

from source_fakes import FakeGenerator


@pytest.fixture
def collect():
    return get_registry().load("source", "manual")


class PageUser:
    """Stands in for a person at the page: waits for the URL the source prints, then clicks."""

    def __init__(self, monkeypatch, actions):
        self.actions, self.answers = actions, []
        monkeypatch.setattr(pick_server, "_print_url", self._start)

    def _start(self, url):
        parts = urlsplit(url)
        self.port, self.token = parts.port, parts.query.split("=", 1)[1]
        threading.Thread(target=self._act, daemon=True).start()

    def post(self, route, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("POST", f"{route}?token={self.token}", body=json.dumps(body))
        response = conn.getresponse()
        data = json.loads(response.read())
        conn.close()
        return response.status, data

    def _act(self):
        for route, body in self.actions:
            self.answers.append(self.post(route, body))


def _clicks(*numbers, more=None):
    actions = [("/api/more", {"count": more})] if more else []
    actions += [("/api/pick", {"sample": n, "picked": True}) for n in numbers]
    return actions + [("/api/done", {})]


def test_browser_and_terminal_give_identical_sets(collect, make_context, monkeypatch, tmp_path):
    user = PageUser(monkeypatch, _clicks(3, 9, 40))
    browser = collect(make_context({"ui": "browser", "port": 0, "candidates": 100},
                                   out_dir=tmp_path / "b"))
    assert all(status == 200 for status, _ in user.answers)
    assert browser.stats["picked"] == [3, 9, 40] and browser.stats["ui"] == "browser"
    saved = json.loads((tmp_path / "b" / "picks.json").read_text())
    assert saved["picked"] == [3, 9, 40] and saved["seed"] == 0

    typed = collect(make_context({"pick": "3,9,40", "candidates": 100}, out_dir=tmp_path / "t"))
    asked = collect(make_context({"ui": "terminal", "candidates": 100}, ask=lambda prompt: "40 3 9",
                                 out_dir=tmp_path / "a"))
    reloaded = collect(make_context({"pick_file": str(tmp_path / "b" / "picks.json"), "candidates": 100},
                                    out_dir=tmp_path / "r"))
    for other in (typed, asked, reloaded):
        assert torch.equal(other.negatives, browser.negatives)
        assert torch.equal(other.positives, browser.positives)


def test_more_samples_then_reload_from_the_picks_file(collect, make_context, monkeypatch, tmp_path):
    gen = FakeGenerator()
    PageUser(monkeypatch, _clicks(2, 70, 95, more=32))
    browser = collect(make_context({"ui": "browser", "port": 0, "candidates": 200}, generator=gen,
                                   out_dir=tmp_path / "b"))
    assert browser.stats["shown"] == 96 and browser.stats["picked"] == [2, 70, 95]
    assert browser.positives.shape[0] == 200 - 3  # 93 unpicked shown + 104 more
    second_block = gen(64, common.stream_seed(0, common.STREAM_GRID, 1))  # samples 65-128
    assert torch.equal(browser.negatives[1], second_block[70 - 65])
    reloaded = collect(make_context({"pick_file": str(tmp_path / "b" / "picks.json"), "candidates": 200},
                                    out_dir=tmp_path / "r"))
    assert torch.equal(reloaded.negatives, browser.negatives)
    assert torch.equal(reloaded.positives, browser.positives)


def test_auto_is_the_terminal_without_a_tty(collect, make_context):
    assert not sys.stdin.isatty()  # pytest captures stdin
    sets = collect(make_context({"ui": "auto"}, ask=lambda prompt: "1 2"))
    assert sets.stats["picked"] == [1, 2] and "ui" not in sets.stats


def test_auto_is_the_browser_for_a_person_at_a_terminal(collect, make_context, monkeypatch):
    class Terminal:
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", Terminal())
    PageUser(monkeypatch, _clicks(5))
    sets = collect(make_context({"ui": None, "port": 0}, ask=lambda prompt: pytest.fail("asked")))
    assert sets.stats["picked"] == [5] and sets.stats["ui"] == "browser"


def test_auto_without_any_way_to_ask_says_how(collect, make_context):
    with pytest.raises(UnlearnError, match="--pick 3,7,12 or --pick-file FILE, or pick in a browser with --ui browser"):
        collect(make_context({"ui": "auto"}))


def test_unknown_ui(collect, make_context):
    with pytest.raises(UnlearnError, match="--ui must be one of auto, browser, terminal, got 'web'"):
        collect(make_context({"ui": "web", "pick": "1"}))


def test_pick_wins_over_the_browser(collect, make_context):
    sets = collect(make_context({"ui": "browser", "pick": "4"}))  # no page is served
    assert sets.stats["picked"] == [4]


def _picks_json(tmp_path, **changes):
    data = {"format": "gan-unlearn-picks", "version": 1, "model": "bundled:digits", "model_sha256": None,
            "resolution": 8, "channels": 1, "seed": 0, "shown": 64, "picked": [3, 7]}
    data.update(changes)
    path = tmp_path / "picks.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize("changes, message", [
    ({"seed": 2}, "was picked with --seed 2, this run uses --seed 0"),
    ({"model": "faces.pkl"}, "holds picks for another model: they were made on 'faces.pkl'"),
    ({"picked": []}, "no sample is picked"),
    ({"shown": 2, "picked": [1, 2]}, "all 2 samples were picked"),
])
def test_picks_files_that_do_not_fit_the_run(collect, make_context, tmp_path, changes, message):
    with pytest.raises(UnlearnError, match=message):
        collect(make_context({"pick_file": _picks_json(tmp_path, **changes)}))


def test_text_pick_files_still_work(collect, make_context, tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("3 7\n")
    assert collect(make_context({"pick_file": str(path)})).stats["picked"] == [3, 7]


def test_ctrl_c_in_the_browser_keeps_the_picks(collect, make_context, monkeypatch, tmp_path):
    def interrupted(url):
        raise KeyboardInterrupt

    monkeypatch.setattr(pick_server, "_print_url", interrupted)
    with pytest.raises(KeyboardInterrupt):
        collect(make_context({"ui": "browser", "port": 0}, out_dir=tmp_path / "run"))
    assert json.loads((tmp_path / "run" / "picks.json").read_text())["picked"] == []
