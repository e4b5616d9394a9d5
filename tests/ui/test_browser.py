"""The portal in a real browser: headless Debian Chromium, driven by Selenium, against a
real API and ``streamlit run`` (started with the same command line as ``prefmarket portal``).

One walk through what a person does: an annotator signs in and bids, labels the pairs won
(one with the keyboard shortcut, one with the mouse), and a requester reads the dashboard,
downloads the dataset and reads the quality page. Screenshots go to
``$PREFMARKET_ARTIFACTS`` (default ``/tmp/artifacts/ui``). Chromium comes from Debian's
packages via ``setup_browser.sh``; the test skips, saying why, only when that cannot install it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.quality.conftest import pairs as qc_pairs_jsonl  # pairs with a known better side, and gold
from tests.ui.live import QC_CAMPAIGN, free_port, pairs_jsonl, running_api, wait_http
from ui import cli

webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs the selenium package")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

HERE = Path(__file__).resolve().parent
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1440,1800")
WAIT_S = 30
ARTIFACTS = Path(os.environ.get("PREFMARKET_ARTIFACTS", "/tmp/artifacts/ui"))


def _install_browser() -> None:
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    done = subprocess.run(["bash", str(HERE / "setup_browser.sh")], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        pytest.skip(f"Chromium could not be installed by tests/ui/setup_browser.sh: {done.stderr.strip()[-400:]}")


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A fresh API (its own database, so the screenshots show only this story) and the
    portal served by ``streamlit run`` on a free loopback port."""
    with running_api(tmp_path_factory.mktemp("browser-market")) as api:
        port = free_port()
        log = (tmp_path_factory.mktemp("portal") / "streamlit.log").open("w")
        proc = subprocess.Popen(cli.portal_command("127.0.0.1", port), stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PREFMARKET_API_URL": api.url})
        try:
            wait_http(f"http://127.0.0.1:{port}/_stcore/health", timeout=60)
            yield api, cli.portal_url("127.0.0.1", port)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    _install_browser()
    profile = tmp_path_factory.mktemp("chromium-profile")
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


# --- a few words for talking to Streamlit's DOM ------------------------------------------


def _wait(driver, condition, what: str):
    try:
        return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(condition)
    except TimeoutException:
        shot = ARTIFACTS / "FAILED.png"  # what the page showed instead
        driver.save_screenshot(str(shot))
        raise AssertionError(f"timed out waiting for {what}; the page is in {shot}") from None


def wait_text(driver, text: str):
    """Wait until ``text`` is shown somewhere on the page (an element whose own text has it)."""
    return _wait(driver, EC.visibility_of_element_located(
        (By.XPATH, f"//*[contains(text(), {_xpath_str(text)})]")), repr(text))


def _xpath_str(text: str) -> str:
    return f'"{text}"' if '"' not in text else "concat('" + text.replace("'", "', \"'\", '") + "')"


def click_button(driver, label: str) -> None:
    xpath = f"//button[not(@disabled)][.//p[normalize-space()={_xpath_str(label)}]]"
    _wait(driver, EC.element_to_be_clickable((By.XPATH, xpath)), f"button {label!r}").click()


def type_into(driver, label: str, text: str, submit: bool = False) -> None:
    field = _wait(driver, EC.element_to_be_clickable(
        (By.CSS_SELECTOR, f'input[aria-label="{label}"]')), f"input {label!r}")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(text)
    if submit:
        field.send_keys(Keys.ENTER)


def go_to(driver, title: str) -> None:
    xpath = f'//a[@data-testid="stSidebarNavLink"][.//span[normalize-space()={_xpath_str(title)}]]'
    _wait(driver, EC.element_to_be_clickable((By.XPATH, xpath)), f"page link {title!r}").click()
    _wait(driver, EC.visibility_of_element_located((By.XPATH, f"//h1[contains(., {_xpath_str(title)})]")),
          f"page {title!r}")


def settle(driver) -> None:
    """Wait until Streamlit has finished a rerun: no running indicator and no element still
    marked stale (left over from the previous run, drawn faded)."""
    time.sleep(0.3)  # let a rerun that a click or key press just asked for begin
    busy = '[data-testid^="stStatusWidgetRunning"], [data-stale="true"]'
    _wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, busy), "the app to finish its rerun")
    time.sleep(0.3)  # charts draw after their element arrives


def sign_in(driver, url: str, token: str, shot: Path | None = None) -> None:
    driver.get(url)
    type_into(driver, "API token", token)
    if shot:
        driver.save_screenshot(str(shot))
    click_button(driver, "Sign in")


def sign_out(driver) -> None:
    click_button(driver, "Sign out")
    _wait(driver, EC.visibility_of_element_located((By.CSS_SELECTOR, 'input[aria-label="API token"]')),
          "the sign-in form")


def shoot(driver, path: Path) -> None:
    settle(driver)
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000, f"{path} looks empty"


# --- the walk ---------------------------------------------------------------------------


def test_sign_in_bid_label_and_read_the_dashboard(stack, browser, artifacts):
    api, url = stack
    req, req_acct = api.account("requester", "Ada (requester)")
    ann, ann_acct = api.account("annotator", "Ben (annotator)")
    camp = req.create_campaign(name="movie reviews", budget_cents=2000, max_price_cents=50, rule="second_price",
                               labels_per_item=1, round_size=4, round_duration_s=600)
    req.upload_items(camp["id"], pairs_jsonl(8))
    first = req.open_round(camp["id"])  # a first round gives the market a clearing price to show
    bot, _ = api.account("annotator", "Cleo (annotator)")
    bot.place_bid(first["id"], 15, 1)
    req.close_round(first["id"])
    bot.submit_label(bot.my_assignments(state="open")[0]["id"], "a")
    r = req.open_round(camp["id"])

    # Annotator: sign in, read the open round, place a sealed bid.
    sign_in(browser, url, ann_acct["token"], artifacts / "01-sign-in.png")
    wait_text(browser, "Signed in as")
    wait_text(browser, "Your sealed bid")
    type_into(browser, "Ask per label (cents)", "20", submit=True)
    wait_text(browser, "would have won in 1 of the last 1 cleared rounds")
    type_into(browser, "Labels you offer", "2", submit=True)
    settle(browser)
    click_button(browser, "Place bid")
    wait_text(browser, f"Sealed bid on round #{r['id']}: $0.20 per label for up to 2 labels.")
    shoot(browser, artifacts / "02-annotator-bid.png")
    bid = ann.my_bid(r["id"])
    assert (bid["ask_cents"], bid["capacity"]) == (20, 2)

    # The round clears (the requester's close is driven in the browser below for the next round).
    req.close_round(r["id"])

    # Annotator: label the two pairs won, A by keyboard shortcut, B by mouse.
    go_to(browser, "Label")
    wait_text(browser, "2 pairs to label")
    shoot(browser, artifacts / "03-label.png")
    browser.find_element(By.TAG_NAME, "h1").click()  # focus the page, not an input
    ActionChains(browser).send_keys("a").perform()
    wait_text(browser, "Label accepted: you chose A.")
    wait_text(browser, "1 pair to label")
    settle(browser)  # the buttons now belong to the next pair
    click_button(browser, "B is better")
    wait_text(browser, "Label accepted: you chose B.")
    choices = sorted(a["label"]["choice"] for a in ann.my_assignments(state="done"))
    assert choices == ["a", "b"]

    go_to(browser, "Earnings")
    wait_text(browser, "Labelled work")
    shoot(browser, artifacts / "04-earnings.png")
    assert ann.earnings()["earned_cents"] == 100  # two labels at the 50¢ clearing price

    # The policy worker reports win rate against spend.
    req.post_evaluation(camp["id"], spend_cents=50, win_rate=0.53, ci_low=0.47, ci_high=0.59, n=120)
    req.post_evaluation(camp["id"], spend_cents=115, win_rate=0.58, ci_low=0.52, ci_high=0.64, n=120)

    # Requester: sign in, open a round on the dashboard, read money and curves, export.
    sign_out(browser)
    sign_in(browser, url, req_acct["token"])
    wait_text(browser, "New campaign")
    go_to(browser, "Dashboard")
    wait_text(browser, "Win rate against dollars")
    click_button(browser, "Open a round")
    wait_text(browser, "is open for bids on")
    [opened] = req.list_rounds(state="open", campaign_id=camp["id"])
    click_button(browser, "Close bidding now")
    wait_text(browser, f"Round #{opened['id']} closed without buying anything (no bids).")
    assert req.get_round(opened["id"])["state"] == "settled"  # no bids: nothing bought, nothing held
    shoot(browser, artifacts / "05-requester-dashboard.png")

    click_button(browser, "Download 3 labelled pairs (JSONL)")
    target = browser.downloads / f"campaign-{camp['id']}-labels.jsonl"
    _wait(browser, lambda _: target.exists() and target.stat().st_size > 0, "the downloaded export")
    lines = target.read_text().splitlines()
    assert len(lines) == 3 and all('"chosen"' in line for line in lines)

    # Another requester's campaign checks quality: an annotator who gets its gold checks
    # wrong is judged at its fourth wrong gold answer, and that label is rejected; its
    # owner reads why on the Quality page.
    qc_req, qc_acct = api.account("requester", "Dee (requester)")
    qc = qc_req.create_campaign(name="careful reviews", **QC_CAMPAIGN)
    qc_req.upload_items(qc["id"], qc_pairs_jsonl(8))
    qc_req.upload_items(qc["id"], qc_pairs_jsonl(4, start=100, gold=True))
    careless, _ = api.account("annotator", "Eve (annotator)")
    for _ in range(2):  # probation: two gold checks in four units a round, judged after four
        qc_round = qc_req.open_round(qc["id"])
        careless.place_bid(qc_round["id"], 20, 4)
        qc_req.close_round(qc_round["id"])
        for a in careless.my_assignments(state="open"):
            careless.submit_label(a["id"], "b" if a["completion_a"].startswith("good") else "a")
    assert careless.earnings()["rejected_labels"] >= 1
    sign_out(browser)
    sign_in(browser, url, qc_acct["token"])
    wait_text(browser, "New campaign")
    go_to(browser, "Quality")
    wait_text(browser, "Spend by status")
    wait_text(browser, "below the quality bar: accuracy on the requester's gold checks")
    settle(browser)
    drawn = 'div[data-testid="stVegaLiteChart"] canvas, div[data-testid="stVegaLiteChart"] svg'
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, drawn)) >= 2, "both quality charts drawn")
    shoot(browser, artifacts / "06-requester-quality.png")

    # Economist lab: a short simulation, compared in a table and charts.
    go_to(browser, "Economist lab")
    type_into(browser, "Rounds", "60", submit=True)
    settle(browser)
    click_button(browser, "Run simulation")
    wait_text(browser, "Simulated 60 rounds × 6 rules")
    wait_text(browser, "Download rounds (CSV)")
    shoot(browser, artifacts / "07-economist-lab.png")
