"""The pick page in a real headless Chromium (Debian's chromium + chromium-driver, Selenium).

Nothing is downloaded: the browser and its driver are the system's (/usr/bin/chromium,
/usr/bin/chromedriver; .ci/run installs them with apt-get where it can), always passed by path so
selenium-manager never runs. Without them the tests skip, saying what to install.

GAN_UNLEARN_UPDATE_SCREENSHOT=1 copies the page's screenshot to docs/images/manual-ui.png.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "images" / "manual-ui.png"
FAST = ["--adapt-iters", "4", "--unlearn-iters", "4", "--eval-samples", "40", "--batch", "4",
        "--quiet", "--device", "cpu"]

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("no system Chromium: install it with `apt-get install chromium chromium-driver` "
                "(.ci/run does) to test the pick page in a real browser", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install '.[test]'")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1200,860",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


class Tool:
    """gan-unlearn as a real process; its stderr is read line by line for the page's URL."""

    def __init__(self, *args, cwd):
        self.process = subprocess.Popen([sys.executable, "-m", "unlearn_cli", *map(str, args)],
                                        cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.lines, self.url_seen = [], threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)
            if re.search(r"http://127\.0\.0\.1:\d+/\?token=", line):
                self.url_seen.set()
        self.url_seen.set()

    def url(self, timeout=240) -> str:
        assert self.url_seen.wait(timeout), "no URL printed:\n" + self.output()
        found = re.findall(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", self.output())
        assert found, "the tool stopped without serving the page:\n" + self.output()
        return found[0]

    def output(self) -> str:
        return "".join(self.lines)

    def finish(self, timeout=300) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()


def _until(driver, seconds, condition):
    # the page re-renders its grid and counter: an element found a moment ago may be gone by the
    # time it is read, and mid-render the grid may be empty; both mean "not yet", never a failure
    waiting = WebDriverWait(driver, seconds, ignored_exceptions=(StaleElementReferenceException, IndexError))
    return waiting.until(condition)


def _cells(driver):
    return driver.find_elements(By.CSS_SELECTOR, ".cell")


def _picked_on_page(driver):
    return sorted(int(c.get_attribute("data-sample")) for c in driver.find_elements(By.CSS_SELECTOR, ".cell.picked"))


def _wait_counter(driver, picked):
    _until(driver, 20, lambda d: d.find_element(By.CSS_SELECTOR, "#counter b").text == str(picked))


def _wait_saved(path, picked):
    WebDriverWait(None, 20).until(lambda _: json.loads(path.read_text())["picked"] == picked)


def _click_sample(driver, number):
    # retried: a re-render between finding the cell and clicking it leaves a stale element
    _until(driver, 10, lambda d: d.find_element(By.CSS_SELECTOR, f'.cell[data-sample="{number}"]').click() is None)


def _images_loaded(driver):
    return driver.execute_script(
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")


def test_run_with_the_browser_page(browser, tmp_path):
    """Click, close the tab, reopen it, pick by keyboard, press done: the run's negatives are
    exactly the picked samples, and the same as typing their numbers."""
    out = tmp_path / "run"
    tool = Tool("run", "--source", "manual", "--ui", "browser", "--port", "0", "--candidates", "100",
                "--out", out, *FAST, cwd=tmp_path)
    url = tool.url()
    token = url.split("token=")[1]

    browser.get(url.split("?")[0] + "?token=wrong")  # a request without the right token is refused
    assert "token is missing or wrong" in browser.page_source

    browser.get(url)
    _until(browser, 30, lambda d: len(_cells(d)) == 32 and _images_loaded(d))
    for n in (3, 8, 12):
        _click_sample(browser, n)
    _click_sample(browser, 8)  # a second click unpicks
    _wait_counter(browser, 2)
    _wait_saved(out / "picks.json", [3, 12])  # every click is saved at once

    browser.switch_to.new_window("tab")  # close the tab, open the URL again: the picks are kept
    first = browser.window_handles[0]
    browser.switch_to.window(first)
    browser.close()
    browser.switch_to.window(browser.window_handles[0])
    browser.get(url)
    _until(browser, 30, lambda d: len(_cells(d)) == 32)
    _wait_counter(browser, 2)
    assert _picked_on_page(browser) == [3, 12]

    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_RIGHT * 4, "x")  # focus moves to sample 5; x picks it
    _wait_counter(browser, 3)
    body.send_keys("n")  # next page: samples 33-64
    _until(browser, 10, lambda d: _cells(d)[0].get_attribute("data-sample") == "33")
    _click_sample(browser, 40)
    _wait_counter(browser, 4)
    body.send_keys("p")
    _until(browser, 10, lambda d: _cells(d)[0].get_attribute("data-sample") == "1"
                                     and _images_loaded(d))
    assert _picked_on_page(browser) == [3, 5, 12]
    browser.save_screenshot(str(tmp_path / "manual-ui.png"))
    if os.environ.get("GAN_UNLEARN_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "manual-ui.png", SCREENSHOT)

    browser.find_element(By.ID, "done").click()
    _until(browser, 20, lambda d: "finished" in d.find_element(By.TAG_NAME, "body").get_attribute("class"))
    assert tool.finish() == 0, tool.output()
    assert tool.output().count(token) == 1  # the URL (and its token) is printed once

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["source_stats"]["picked"] == [3, 5, 12, 40]
    assert (out / "negatives.png").is_file()
    negatives = _saved_negatives(out)
    assert negatives.shape[0] == 4
    assert torch.allclose(negatives, _typed_negatives(tmp_path, "3,5,12,40", 100), atol=1e-5)
    _no_server_left(url)


def test_pick_command_then_a_run_from_the_picks_file(browser, tmp_path):
    picks = tmp_path / "picks.json"
    tool = Tool("pick", "bundled:digits", "--out", picks, "--port", "0", "--device", "cpu", "--seed", "2",
                cwd=tmp_path)
    url = tool.url()
    browser.get(url)
    _until(browser, 30, lambda d: len(_cells(d)) == 32)
    _click_sample(browser, 2)
    browser.find_element(By.ID, "more").click()  # 32 more: samples 65-96, on a page of their own
    _until(browser, 20, lambda d: _cells(d)[0].get_attribute("data-sample") == "65")
    _click_sample(browser, 70)
    _wait_counter(browser, 2)
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ENTER)  # Enter = done
    assert tool.finish() == 0, tool.output()
    assert "--pick-file" in tool.output()
    saved = json.loads(picks.read_text())
    assert saved["picked"] == [2, 70] and saved["shown"] == 96 and saved["seed"] == 2
    assert saved["model"] == "bundled:digits" and saved["resolution"] == 16

    from unlearn_cli.api import model_source_context
    from unlearn_cli.plugins import get_registry

    context = model_source_context("bundled:digits", device="cpu",
                                   options={"pick_file": str(picks), "seed": 2, "candidates": 100},
                                   out_dir=tmp_path / "reloaded")
    sets = get_registry().load("source", "manual")(context)
    assert sets.stats["picked"] == [2, 70] and sets.stats["shown"] == 96
    _no_server_left(url)


def _saved_negatives(out):
    from safetensors.torch import load_file

    negatives = load_file(str(out / "samples.safetensors"))["negatives"]
    if negatives.dtype == torch.uint8:  # the compact form large images are kept in
        negatives = negatives.float() / 127.5 - 1
    return negatives.float()


def _typed_negatives(tmp_path, numbers, candidates):
    """The terminal path's negatives for the same numbers (--pick), in this process."""
    from unlearn_cli.api import model_source_context
    from unlearn_cli.plugins import get_registry

    context = model_source_context("bundled:digits", device="cpu",
                                   options={"pick": numbers, "candidates": candidates},
                                   out_dir=tmp_path / "typed")
    return get_registry().load("source", "manual")(context).negatives


def _no_server_left(url):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=3)
