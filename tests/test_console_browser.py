"""The review console in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, installed by ``.ci/run``) driven by Selenium against a real ``ocrr
serve`` process on 127.0.0.1 with the tiny hashing encoder.

One server and one browser for the whole module. Covered: logging in (the session cookie's
flags), a prediction served by the API appearing in the queue, correcting it with the
keyboard and the next prediction of the same text changing without a page reload, the
ledger showing the new entry with its proof and verify passing, revoking and erasing, a
read-only key unable to change anything, a script payload as a text and as a label staying
text on every page, the dashboard's charts, and the queue page's load time with 10,000
entries and 1,000 queued predictions (printed; under 300 ms). Screenshots of every page are
saved to $OCRR_ARTIFACTS (default tests/artifacts/).

Every wait is explicit and bounded (WAIT seconds); nothing sleeps. Without Chromium or
chromedriver the module skips, saying why.

Every test makes the state it looks at (its own corrections and predictions): under
pytest-xdist the tests of this module may run in different workers, each with its own server
and browser, and in any order, so no test may rely on what an earlier one wrote.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from ocrr.server.registry import Registry
from server_processes import http, server
from server_support import SEED

TESTS = Path(__file__).resolve().parent
CHROMIUM = next((p for p in (shutil.which(n) for n in
                             ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
WAIT = 15.0
"""Seconds any explicit wait may take before the test fails."""
PAYLOAD = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
BIG_ENTRIES, BIG_QUEUED = 10_000, 1_000
QUEUED = ["when does my replacement card come", "euro to dollar rate today",
          "I can't remember my password", "how much does a transfer abroad cost",
          "my card has not arrived after two weeks", "password reset link is not working",
          "what rate do you give for yen"]
"""Predictions served before the tests start: a queue to look at."""
LOAD_BUDGET_MS = 300.0
"""The queue page's load-time target: printed beside the figure, not asserted (a timed
assertion fails on a loaded machine; the guide keeps speed targets out of unit tests)."""

if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip("Chromium and chromedriver are not installed (apt-get install chromium "
                "chromium-driver; .ci/run installs them)", allow_module_level=True)
pytest.importorskip("selenium", reason="selenium is not installed (the test extra)")

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def artifacts() -> Path:
    """Where screenshots go: $OCRR_ARTIFACTS, or tests/artifacts (ignored by git)."""
    folder = Path(os.environ.get("OCRR_ARTIFACTS") or TESTS / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Site:
    url: str
    keys: dict[str, str]
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def api(self, who: str) -> httpx.Client:
        return self.clients[who]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("console")
    where = str(folder / "data")
    registry = Registry(where)
    for name in ("demo", "xss", "big"):
        registry.create_namespace(name)
    keys = {"admin": registry.create_key("admin", name="admin")[0],
            "write": registry.create_key("write", "demo", name="agent")[0],
            "read": registry.create_key("read", "demo", name="auditor")[0]}
    registry.close()
    # the 10k-entry queue test fills a namespace faster than a key's default text budget
    process = server(where, folder / "server.log", "--text-rate", "0").start()
    made = Site(process.url, keys, {who: http(process, key) for who, key in keys.items()})
    try:
        items = [{"text": t, "label": y} for t, y in SEED]
        items.append({"text": "my card was stolen, this is Jo", "label": "card",
                      "subject": "customer-jo"})
        answer = made.api("admin").post("/v1/namespaces/demo/corrections/batch",
                                        json={"items": items, "actor": "seed"})
        assert answer.status_code == 201, answer.text
        answer = made.api("write").post("/v1/namespaces/demo/predict/batch",
                                        json={"texts": QUEUED})
        assert answer.status_code == 200, answer.text
        yield made
    finally:
        for client in made.clients.values():
            client.close()
        process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1000", "--no-first-run",
                     "--disable-extensions", "--disable-background-networking",
                     "--disable-sync", "--mute-audio", "--lang=en-GB"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: WebDriver) -> WebDriverWait:
    """An explicit wait; an element the queue's refresh redrew meanwhile is looked up again."""
    return WebDriverWait(driver, WAIT, ignored_exceptions=(StaleElementReferenceException,))


def shot(driver: WebDriver, name: str) -> Path:
    path = artifacts() / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def login(driver: WebDriver, site: Site, who: str, actor: str = "") -> None:
    driver.delete_all_cookies()
    driver.get(site.url + "/login")
    driver.find_element(By.ID, "key").send_keys(site.keys[who])
    if actor:
        driver.find_element(By.ID, "actor").send_keys(actor)
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    wait(driver).until(lambda d: "/login" not in d.current_url)


def item_with_text(driver: WebDriver, text: str):  # noqa: ANN201 - a WebElement or False
    for item in driver.find_elements(By.CSS_SELECTOR, "#queue li.item"):
        if item.find_element(By.CSS_SELECTOR, ".text").text == text:
            return item
    return False


def on_item(driver: WebDriver, text: str, use: Callable[[WebElement], Any]) -> Any:
    """``use(item)`` on the queued item showing ``text`` once it is there (again if the
    queue's refresh redraws the item meanwhile)."""

    def attempt(d: WebDriver) -> tuple[Any] | bool:
        item = item_with_text(d, text)
        return (use(item),) if item else False

    return wait(driver).until(attempt)[0]


def select(driver: WebDriver, text: str) -> None:
    on_item(driver, text, lambda item: item.find_element(By.CSS_SELECTOR, ".text").click())


def press(driver: WebDriver, *keys: str) -> None:
    """Keys to the page (not to an input)."""
    webdriver.ActionChains(driver).send_keys(*keys).perform()


def no_script_ran(driver: WebDriver) -> None:
    assert driver.execute_script("return window.__xss === undefined"), "the payload ran"
    assert not driver.find_elements(By.CSS_SELECTOR, 'img[src="x"]'), "the payload made an img"


def predict(site: Site, who: str, namespace: str, text: str) -> dict:
    answer = site.api(who).post(f"/v1/namespaces/{namespace}/predict", json={"text": text})
    assert answer.status_code == 200, answer.text
    return answer.json()


# -- the tests, in the order a reviewer would meet the console ----------------------------
def test_login_sets_a_strict_httponly_cookie(site: Site, browser: WebDriver) -> None:
    browser.delete_all_cookies()
    browser.get(site.url + "/")
    wait(browser).until(ec.presence_of_element_located((By.ID, "login-form")))
    shot(browser, "login")
    login(browser, site, "write", actor="Ann")
    assert browser.current_url.endswith("/ns/demo/queue")
    cookie = browser.get_cookie("ocrr_session")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""  # invisible to scripts


def test_a_served_prediction_is_queued_with_its_neighbours(site: Site, browser: WebDriver
                                                           ) -> None:
    text = "please freeze my stolen card"  # its own text: the keyboard test corrects the other
    served = predict(site, "write", "demo", text)
    login(browser, site, "write", actor="Ann")
    label, confidence = on_item(browser, text, lambda item: (
        item.find_element(By.CSS_SELECTOR, ".answer .label").text,
        item.find_element(By.CSS_SELECTOR, ".conf").text))
    assert label == served["best_label"]
    assert confidence == f"{100 * served['confidence']:.0f}%"
    select(browser, text)
    nearest = on_item(browser, text, lambda item: item.find_element(
        By.CSS_SELECTOR, "table.neighbours tbody tr a").text)
    assert nearest == f"#{served['neighbours'][0]['seq']}"
    shot(browser, "queue")


def test_a_keyboard_correction_changes_the_next_prediction(site: Site, browser: WebDriver
                                                           ) -> None:
    text, other = "please block my stolen card", "block my stolen card"
    before = predict(site, "write", "demo", text)["label"]
    predict(site, "write", "demo", other)
    assert before != "lost_card"
    login(browser, site, "write", actor="Ann")
    select(browser, text)
    url = browser.current_url
    browser.execute_script("window.__same_page = true")  # gone if the page reloads
    press(browser, "c")
    picker = wait(browser).until(ec.visibility_of_element_located((By.ID, "picker-input")))
    picker.send_keys("lost_card")
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "picker-list"),
                                                         "new label"))
    picker.send_keys(Keys.ENTER)
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "status"),
                                                         "Corrected to “lost_card”"))
    assert "(a new class)" in browser.find_element(By.ID, "status").text
    wait(browser).until(lambda d: not item_with_text(d, text))  # the next item came up
    # the effect: the other queued text now predicts the new class too
    effect = browser.find_element(By.ID, "effect")
    assert effect.is_displayed() and other in effect.text and "lost_card" in effect.text
    shot(browser, "queue_after_correction")
    # the next prediction of the same text, asked in the page and through the API
    browser.find_element(By.ID, "try-text").send_keys(text)
    browser.find_element(By.CSS_SELECTOR, "#try-form button").click()
    wait(browser).until(lambda d: d.find_element(By.ID, "try-result")
                        .get_attribute("data-label") == "lost_card")
    assert browser.current_url == url and browser.execute_script("return window.__same_page")
    assert predict(site, "write", "demo", text)["label"] == "lost_card"


def test_the_ledger_shows_the_new_entry_and_verifies(site: Site, browser: WebDriver) -> None:
    text = "my card was swallowed by the machine"
    made = site.api("write").post("/v1/namespaces/demo/corrections",
                                  json={"text": text, "label": "swallowed_card", "actor": "Ann"})
    assert made.status_code == 201, made.text
    login(browser, site, "write", actor="Ann")
    browser.get(site.url + "/ns/demo/ledger?actor=Ann")
    first = browser.find_element(By.CSS_SELECTOR, "#entries tbody tr")
    cells = first.find_elements(By.TAG_NAME, "td")
    assert cells[0].text == f"{made.json()['seq']}"
    assert cells[3].text == "swallowed_card" and cells[4].text == text
    assert cells[5].text == "Ann"
    browser.find_element(By.ID, "verify").click()
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "verify-result"),
                                                         "Verified"))
    assert "✓" in browser.find_element(By.ID, "verify-result").text
    shot(browser, "ledger")
    cells[0].find_element(By.TAG_NAME, "a").click()
    proof = wait(browser).until(ec.presence_of_element_located((By.ID, "proof-result")))
    assert "✓" in proof.text and "ok" in proof.get_attribute("class")
    assert browser.find_element(By.ID, "entry-label").text == "swallowed_card"
    shot(browser, "entry")


def test_revoke_and_erase_from_the_ledger(site: Site, browser: WebDriver) -> None:
    login(browser, site, "write", actor="Ann")
    slip = site.api("write").post("/v1/namespaces/demo/corrections",
                                  json={"text": "reset my pin please", "label": "fx"}).json()
    browser.get(f"{site.url}/ns/demo/ledger/{slip['seq']}")
    browser.find_element(By.ID, "revoke-reason").send_keys("mislabelled")
    browser.find_element(By.CSS_SELECTOR, "#revoke-form button").click()
    notice = wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR,
                                                                 ".notice.ok")))
    assert f"Entry {slip['seq']} revoked" in notice.text
    browser.get(site.url + "/ns/demo/ledger")
    form = browser.find_element(By.ID, "erase-form")
    form.find_element(By.NAME, "subject").send_keys("customer-jo")
    form.find_element(By.NAME, "reason").send_keys("asked to be forgotten")
    form.find_element(By.CSS_SELECTOR, "button").click()
    summary = wait(browser).until(ec.presence_of_element_located((By.ID, "erase-summary")))
    assert "1 entry" in summary.text and "cannot be undone" in summary.text
    shot(browser, "erase_confirm")
    browser.find_element(By.CSS_SELECTOR, "#erase-confirm button").click()
    done = wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR,
                                                               ".notice.ok")))
    assert "Tombstone entry" in done.text
    verified = site.api("read").get("/v1/namespaces/demo/verify").json()
    assert verified["ok"], verified


def test_a_read_only_key_cannot_correct(site: Site, browser: WebDriver) -> None:
    text = "how do I change my password"
    predict(site, "write", "demo", text)
    size = site.api("read").get("/v1/namespaces/demo/entries?limit=1").json()["size"]
    login(browser, site, "read")
    select(browser, text)
    assert browser.find_element(By.ID, "read-only").is_displayed()
    assert not on_item(browser, text, lambda item: item.find_element(
        By.CSS_SELECTOR, "button.accept").is_enabled())
    press(browser, "c")
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "status"), "read-only"))
    assert not browser.find_element(By.ID, "picker").is_displayed()
    press(browser, "a")
    # the server refuses too, whatever the page offers (a valid session and CSRF token)
    status = browser.execute_async_script(
        """const done = arguments[arguments.length - 1];
        const csrf = document.querySelector('meta[name="csrf-token"]').content;
        const id = document.querySelector('#queue li.item').dataset.id;
        fetch('/ns/demo/queue/' + id, {method: 'POST', credentials: 'same-origin',
              headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
              body: JSON.stringify({action: 'correct', label: 'hacked'})})
          .then(r => done(r.status), e => done(String(e)));""")
    assert status == 403
    shot(browser, "queue_read_only")
    browser.get(site.url + "/ns/demo/ledger")
    assert not browser.find_elements(By.ID, "erase-form")
    browser.get(site.url + "/ns/demo/ledger/0")
    assert not browser.find_elements(By.ID, "revoke-form")
    assert site.api("read").get("/v1/namespaces/demo/entries?limit=1").json()["size"] == size


def test_a_script_payload_stays_text(site: Site, browser: WebDriver) -> None:
    admin = site.api("admin")
    admin.post("/v1/namespaces/xss/corrections/batch", json={"items": [
        {"text": "an ordinary request", "label": "ordinary"},
        {"text": "another ordinary request", "label": "ordinary"}]})
    assert admin.post("/v1/namespaces/xss/corrections",
                      json={"text": PAYLOAD, "label": PAYLOAD, "actor": PAYLOAD}
                      ).status_code == 201
    assert predict(site, "admin", "xss", PAYLOAD)["best_label"] == PAYLOAD
    login(browser, site, "admin")
    browser.get(site.url + "/ns/xss/queue")
    label = on_item(browser, PAYLOAD, lambda item: item.find_element(
        By.CSS_SELECTOR, ".answer .label").text)
    no_script_ran(browser)
    assert label == PAYLOAD
    select(browser, PAYLOAD)
    press(browser, "c")
    picker = wait(browser).until(ec.visibility_of_element_located((By.ID, "picker-input")))
    picker.send_keys("<scr")
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "picker-list"), PAYLOAD))
    no_script_ran(browser)
    shot(browser, "xss_queue")
    picker.send_keys(Keys.ESCAPE)
    browser.get(site.url + "/ns/xss/ledger")
    row = browser.find_element(By.CSS_SELECTOR, "#entries tbody tr")
    cells = row.find_elements(By.TAG_NAME, "td")
    assert cells[3].text == PAYLOAD and cells[4].text == PAYLOAD and cells[5].text == PAYLOAD
    no_script_ran(browser)
    shot(browser, "xss_ledger")
    cells[0].find_element(By.TAG_NAME, "a").click()
    wait(browser).until(ec.presence_of_element_located((By.ID, "entry-text")))
    assert browser.find_element(By.ID, "entry-text").text == PAYLOAD
    no_script_ran(browser)
    browser.get(site.url + "/ns/xss/dashboard")
    titles = browser.execute_script(
        "return Array.from(document.querySelectorAll('#classes-chart title'))"
        ".map(t => t.textContent)")
    assert any(t.startswith(PAYLOAD) for t in titles)
    no_script_ran(browser)


def test_the_dashboard_draws_its_charts(site: Site, browser: WebDriver) -> None:
    made = site.api("write").post("/v1/namespaces/demo/corrections",
                                  json={"text": "send money to my sister abroad",
                                        "label": "transfer", "actor": "Ann"})
    assert made.status_code == 201, made.text
    login(browser, site, "write", actor="Ann")
    browser.get(site.url + "/ns/demo/queue")
    wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, "#queue li.item .text")
                        .click() or True)
    press(browser, "a")
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "status"), "Accepted"))
    browser.get(site.url + "/ns/demo/dashboard")
    assert browser.find_elements(By.CSS_SELECTOR, "#corrections-chart rect.bar")
    assert browser.find_elements(By.CSS_SELECTOR, "#accuracy-chart circle.point")
    bars = browser.find_elements(By.CSS_SELECTOR, "#classes-chart rect.bar")
    assert len(bars) >= 4  # card, fx, password, transfer (and whatever other tests added)
    assert browser.find_element(By.ID, "review-accuracy").text.endswith("%")
    shot(browser, "dashboard")


def _fill_big(site: Site) -> None:
    """10,000 entries over 50 classes, then 1,000 distinct predictions (the queue)."""
    admin = site.api("admin")
    words = ["card", "rate", "login", "refund", "limit", "travel", "cash", "fee", "loan", "pin"]
    for start in range(0, BIG_ENTRIES, 1000):
        items = [{"text": f"{words[i % 10]} {words[(i // 10) % 10]} request {i}",
                  "label": f"class_{i % 50:02d}"} for i in range(start, start + 1000)]
        answer = admin.post("/v1/namespaces/big/corrections/batch", json={"items": items})
        assert answer.status_code == 201, answer.text
    for start in range(0, BIG_QUEUED, 250):
        texts = [f"question {i}: {words[i % 10]} and {words[(i * 7) % 10]}?"
                 for i in range(start, start + 250)]
        answer = admin.post("/v1/namespaces/big/predict/batch", json={"texts": texts})
        assert answer.status_code == 200, answer.text


def test_the_queue_page_loads_with_10k_entries(site: Site, browser: WebDriver) -> None:
    _fill_big(site)
    login(browser, site, "admin")
    timings = []
    for _ in range(6):
        browser.get(site.url + "/ns/big/queue")
        wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR,
                                                            "#queue li.item.selected")))
        timings.append(browser.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return {load: n.loadEventEnd, ready: n.domContentLoadedEventEnd,"
            " server: n.responseEnd - n.requestStart};"))
    count = browser.find_element(By.ID, "queue-count").text.replace(",", "")
    assert int(count) == BIG_QUEUED
    shot(browser, "queue_10k")
    # after a correction every queued item is stale: the page must not wait for a recheck
    afters = []
    for i in range(3):
        site.api("admin").post("/v1/namespaces/big/corrections",
                               json={"text": f"question {i}: card?", "label": "class_00"})
        browser.get(site.url + "/ns/big/queue")
        wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR,
                                                            "#queue li.item.selected")))
        afters.append(browser.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return {load: n.loadEventEnd, server: n.responseEnd - n.requestStart};"))
    after = {k: statistics.median(a[k] for a in afters) for k in ("load", "server")}
    rechecked = after["load"]
    measured = timings[1:]  # the first load warms the page's caches
    load = statistics.median(t["load"] for t in measured)
    figures = {"entries": BIG_ENTRIES, "queued": BIG_QUEUED,
               "load_ms_median": round(load, 1),
               "load_ms_max": round(max(t["load"] for t in measured), 1),
               "dom_ready_ms_median": round(statistics.median(t["ready"] for t in measured), 1),
               "server_ms_median": round(statistics.median(t["server"] for t in measured), 1),
               "first_load_ms": round(timings[0]["load"], 1),
               "load_after_a_correction_ms_median": round(rechecked, 1),
               "server_after_a_correction_ms_median": round(after["server"], 1)}
    (artifacts() / "queue_load.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nqueue page, {BIG_ENTRIES:,} entries and {BIG_QUEUED:,} queued: load "
          f"{figures['load_ms_median']} ms median (max {figures['load_ms_max']}, first "
          f"{figures['first_load_ms']}), server {figures['server_ms_median']} ms; "
          f"{figures['load_after_a_correction_ms_median']} ms after a correction (server "
          f"{figures['server_after_a_correction_ms_median']} ms); target {LOAD_BUDGET_MS:.0f} "
          f"ms: {'met' if max(load, rechecked) < LOAD_BUDGET_MS else 'missed'} "
          f"(load average {os.getloadavg()[0]:.1f})")
    assert load > 0 and rechecked > 0, figures
