"""The web demo as a user drives it: a real server on 127.0.0.1 and headless Chromium through selenium."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket

import pytest

from mer import Predictor

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
MISSING = [
    *(f"the Python package {name}" for name in ("gradio", "selenium") if importlib.util.find_spec(name) is None),
    *(["chromium and chromium-driver (apt-get install chromium chromium-driver)"] if not (CHROMIUM and DRIVER) else []),
]
if MISSING:  # in CI (.ci/run installs all of them) a missing one fails the run instead of skipping the browser
    reason = f"the browser tests need {', '.join(MISSING)}"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run them", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from mer.prediction.web import build_app, serve  # noqa: E402

pytestmark = pytest.mark.slow
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,2200"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(demo):
    app = build_app([demo.checkpoints["at_dropout"], demo.checkpoints["audio_only"]])
    url = serve(app, "127.0.0.1", free_port(), block=False)
    assert url.startswith("http://127.0.0.1:")
    yield url
    app.close()


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def analyse(browser, url, path, transcript=None):
    """Open the page, upload `path`, fill in the transcript, click Analyse; the status text once it is shown."""
    browser.get(url)
    wait = WebDriverWait(browser, 180)
    upload = wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#upload input[type=file]")))
    upload.send_keys(str(path))
    wait.until(lambda d: path.stem in d.find_element(By.ID, "upload").text)  # the upload finished
    if transcript:
        browser.find_element(By.CSS_SELECTOR, "#transcript textarea").send_keys(transcript)
    browser.find_element(By.ID, "analyse").click()
    wait.until(
        lambda d: "p = " in d.find_element(By.ID, "status").text or "error" in d.find_element(By.ID, "status").text
    )
    return browser.find_element(By.ID, "status").text


def test_a_user_uploads_a_recording_and_sees_label_probabilities_and_card(server, browser, demo, tmp_path):
    record = next(r for r in demo.group("testB") if r["emotion"] != "neutral")
    path = tmp_path / "clip.wav"
    shutil.copy(demo.audio(record), path)
    status = analyse(browser, server, path, record["text"])

    (expected,) = Predictor.from_checkpoint(demo.checkpoints["at_dropout"], device="cpu").predict(
        [path], texts=[record["text"]]
    )
    assert status.startswith(f"{expected.label} (p = {expected.probabilities[expected.label]:.3f}) for clip.wav")
    assert "audio+text" in status and f"transcript (given): {record['text']}" in status
    shown = browser.find_element(By.ID, "label").text
    assert shown.splitlines()[:2] == ["probabilities", expected.label]  # the heading of the probability bars
    for label, p in sorted(expected.probabilities.items(), key=lambda kv: -kv[1])[:3]:
        assert f"{label}\n{round(100 * p)}%" in shown  # each bar: the class and its probability
    WebDriverWait(browser, 120).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#card img").get_attribute("naturalWidth") not in (None, "0")
    )
    assert browser.find_element(By.ID, "explanation").text.startswith(f"Predicted {expected.label}")
    browser.save_screenshot(str(tmp_path / "demo.png"))
    assert (tmp_path / "demo.png").stat().st_size > 10_000


def test_an_unreadable_file_shows_the_clis_reason(server, browser, tmp_path):
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not audio" * 100)
    status = analyse(browser, server, garbage)
    assert status.startswith("error: garbage.wav: cannot decode audio")
    assert not any(e.is_displayed() for e in browser.find_elements(By.ID, "label"))
    browser.save_screenshot(str(tmp_path / "error.png"))
