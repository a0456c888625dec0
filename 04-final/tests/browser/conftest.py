"""A real browser on the running stage: Debian's headless Chromium, driven by Selenium.

The stage starts exactly as `python3 -m workshop up` starts it (the workshop's supervisor, free
ports, a throwaway database), and the browser only ever talks to its front door. Every page the
walk opens is checked the same way: it names the service that rendered it (the footer's
`data-service`, equal to the `X-Served-By` header of the answer), and a screenshot is kept.
After each test, the browser's own network log must show no request that left 127.0.0.1, no
answer of 400 or more, and its console no error.

Screenshots go to `$ARTIFACTS/browser/<stage>/` when ARTIFACTS is set, else to
`$BROWSER_SCREENSHOTS/<stage>/` (tox: the env's tmp dir), else to pytest's tmp dir; the folder is
printed at the end of the run and with every failure.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

STAGE = "03-events"
# Which service renders the order pages (My orders, an order) behind this stage's front door.
ORDER_PAGES_BY = "monolith"
REPO_ROOT = Path(__file__).resolve().parents[3]
if str(REPO_ROOT) not in sys.path:  # the workshop's supervisor starts the stage
    sys.path.insert(0, str(REPO_ROOT))
WAIT = 20.0  # seconds for a page to arrive; a loaded CI box is slow, never this slow

CUSTOMERS = {"alice": "wonderland", "bob": "builder"}
STAFF = ("admin", "workshop-admin")
GOOD_CARD = "4242424242424242"

INSTALL_HINT = (
    "the browser tests need Chromium and its driver, of the same version. Debian/Ubuntu: "
    "`sudo apt-get install chromium chromium-driver`; elsewhere install both and set CHROMIUM "
    "and CHROMEDRIVER to their paths."
)
# What keeps a headless Chromium quiet on a machine with no internet: no background updates,
# sync, first-run pages or QUIC probes. Any host name but 127.0.0.1 resolves to nothing, so a
# stray request fails at once, on this machine, and still shows in the network log below.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
LOCAL_SCHEMES = {"data", "blob", "about", "chrome", "chrome-error", "devtools"}


def _chromium() -> tuple[str, str]:
    names = ["chromium", "chromium-browser", "google-chrome"]
    browser = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, names)), None)
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and no Chromium here: {INSTALL_HINT}", pytrace=False)
    pytest.skip(INSTALL_HINT)


# ------------------------------------------------------------------------------------------------
# The stage


def stage_env(tmp: Path) -> dict[str, str]:
    """This run's settings for the stage: throwaway databases, a short payment timeout."""
    return {
        "DATABASE_URL": f"sqlite:///{(tmp / 'db.sqlite3').as_posix()}",
        "ORDERS_DATABASE_URL": f"sqlite:///{(tmp / 'orders.sqlite3').as_posix()}",
        "DJANGO_DEBUG": "0",
        "PAYMENT_TIMEOUT_SECONDS": "0.3",
        "EMAIL_FILE_PATH": str(tmp / "mail"),
    }


class Boot:
    """The stage, started as `workshop up` starts it (the workshop's supervisor, free ports), in
    a thread of its own.

    Starting a stage takes longer than walking it (migrations, demo data, every process
    healthy), so when one run walks several stages, each stage's start begins as soon as the
    previous stage is up, while that one is walked: never two starts at once. The stages'
    conftests are copies that cannot import each other; they meet in one list on the session.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.after: Boot | None = None  # the stage walked next, started when this one is up
        self.tmp: Path | None = None
        self.url: str | None = None
        self.failure: str | None = None
        self.running = contextlib.ExitStack()
        self.closed = False  # the session is ending: start nothing more

    def start(self) -> None:
        with self.lock:
            if self.thread is None and not self.closed:
                self.thread = threading.Thread(target=self._run, name=f"start {STAGE}",
                                               daemon=True)
                self.thread.start()

    def _run(self) -> None:
        from workshop import stages, supervisor

        self.tmp = Path(tempfile.mkdtemp(prefix=f"browser-{STAGE}-"))
        log_path = self.tmp / "stage.log"
        try:
            log = self.running.enter_context(log_path.open("w", encoding="utf-8"))
            run = self.running.enter_context(supervisor.running(
                stages.load(STAGE), free_ports=True, env=stage_env(self.tmp), log=log,
                log_path=log_path))
            self.url = run.front_door_url
        except Exception as exc:
            self.running.close()
            tail = "\n".join(log_path.read_text("utf-8", "replace").splitlines()[-40:])
            self.failure = f"{STAGE} did not start: {exc}\n--- {log_path} (last lines) ---\n{tail}"
        finally:
            if self.after:
                self.after.start()

    def close(self) -> None:
        with self.lock:
            self.closed = True

    def wait(self) -> str:
        self.start()
        self.thread.join()
        if self.failure:
            pytest.fail(self.failure, pytrace=False)
        return self.url

    def stop(self, keep_files: bool) -> None:
        if self.thread:
            self.thread.join()
        self.running.close()
        if self.tmp and not keep_files and not self.failure:
            shutil.rmtree(self.tmp, ignore_errors=True)


_boot = Boot()


def pytest_collection_finish(session):
    """Queue this stage's start if any of its tests needs it, in the order the tests run."""
    here = Path(__file__).resolve().parent
    first = next((i for i, item in enumerate(session.items)
                  if "stage" in item.fixturenames and here in Path(item.path).resolve().parents),
                 None)
    if first is None:
        return
    queue = session.__dict__.setdefault("browser_stage_starts", [])
    queue.append((first, _boot))
    queue.sort(key=lambda entry: entry[0])
    for (_, before), (_, after) in itertools.pairwise(queue):
        before.after = after


def pytest_sessionfinish(session):
    # Interrupted (Ctrl-C, -x), a stage still starting must not hand over to the next one.
    for _, boot in session.__dict__.get("browser_stage_starts", []):
        boot.close()
    _boot.stop(keep_files=session.testsfailed > 0)


@pytest.fixture(scope="module")
def stage(request) -> Iterator[str]:
    """The stage's front door URL, once every process is healthy; stopped after its tests."""
    yield _boot.wait()
    _boot.stop(keep_files=request.session.testsfailed > 0)


class ShopApi:
    """The shop's API through the same front door: what the walk checks behind the pages."""

    def __init__(self, client: httpx.Client):
        self.client = client
        self.tokens: dict[str, str] = {}

    def token(self, username: str, password: str) -> str:
        if username not in self.tokens:  # a login costs a slow password hash: once each
            resp = self.client.post("/api/v1/auth/token/",
                                    json={"username": username, "password": password})
            assert resp.status_code == 200, resp.text
            self.tokens[username] = resp.json()["token"]
        return self.tokens[username]

    def product(self, slug: str) -> dict:
        """The product with this slug as the API shows it now, stock included."""
        resp = self.client.get("/api/v1/products/", params={"search": slug.split("-")[-1]})
        found = [p for p in resp.json()["results"] if p["slug"] == slug]
        assert found, f"no product {slug} in {resp.text}"
        return found[0]

    def buy(self, username: str, slug: str, quantity: int) -> dict:
        """Another customer orders, through the API, while our visitor browses."""
        resp = self.client.post(
            "/api/v1/orders/",
            json={"lines": [{"product_id": self.product(slug)["id"], "quantity": quantity}],
                  "card_number": GOOD_CARD},
            headers={"Authorization": f"Token {self.token(username, CUSTOMERS[username])}"})
        assert resp.status_code in (201, 202), resp.text
        order = resp.json()
        # Since stage 03 the answer is `pending` and the saga decides: poll its Location.
        deadline = time.monotonic() + 30
        while order["status"] == "pending" and time.monotonic() < deadline:
            time.sleep(0.1)
            order = self.client.get(resp.headers["Location"], headers={
                "Authorization": resp.request.headers["Authorization"]}).json()
        return order

    def set_stock(self, slug: str, quantity: int) -> None:
        """Staff put stock back (the staff-only stock API), so the walk can run again."""
        resp = self.client.put(
            f"/api/v1/stock/{self.product(slug)['id']}/", json={"quantity": quantity},
            headers={"Authorization": f"Token {self.token(*STAFF)}"})
        assert resp.status_code == 200, resp.text


@pytest.fixture(scope="module")
def shop_api(stage) -> Iterator[ShopApi]:
    with httpx.Client(base_url=stage, timeout=30) as client:
        yield ShopApi(client)


# ------------------------------------------------------------------------------------------------
# The browser


@pytest.fixture(scope="module")
def chromium(tmp_path_factory) -> Iterator[object]:
    """One headless Chromium per stage, with a fresh profile and its network log switched on."""
    browser, driver_path = _chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium-profile")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    # A driver path given: Selenium Manager (which would download a driver) is never asked.
    service = Service(executable_path=driver_path, log_output=str(profile / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot_root(tmp_path_factory) -> Path:
    given = os.environ.get("ARTIFACTS")
    if given:
        return Path(given) / "browser" / STAGE
    given = os.environ.get("BROWSER_SCREENSHOTS")
    if given:
        return Path(given) / STAGE
    return tmp_path_factory.getbasetemp() / "screenshots" / STAGE


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    root = screenshot_root(tmp_path_factory)
    shutil.rmtree(root, ignore_errors=True)  # only this run's pictures
    root.mkdir(parents=True)
    _shown.append(root)
    return root


_shown: list[Path] = []


def pytest_terminal_summary(terminalreporter):
    for root in _shown:
        terminalreporter.write_line(f"browser screenshots of {STAGE}: {root}")


class NetworkLog:
    """What Chromium itself saw: every request it sent and every answer, from its DevTools log."""

    def __init__(self, driver):
        self.driver = driver
        self.requests: list[str] = []
        self.answers: list[dict] = []

    def drain(self) -> None:
        for entry in self.driver.get_log("performance"):
            event = json.loads(entry["message"])["message"]
            params = event.get("params", {})
            if event["method"] == "Network.requestWillBeSent":
                self.requests.append(params["request"]["url"])
            elif event["method"] == "Network.responseReceived":
                self.answers.append({"type": params.get("type"), **params["response"]})

    def left_the_machine(self) -> list[str]:
        return [url for url in self.requests
                if urlsplit(url).scheme not in LOCAL_SCHEMES and urlsplit(url).hostname
                != "127.0.0.1"]

    def failed_answers(self) -> list[str]:
        return [f"{a['status']} {a['url']}" for a in self.answers if a["status"] >= 400]

    def document(self, url: str) -> dict | None:
        """The answer that brought the page at `url` (the last one, after redirects)."""
        docs = [a for a in self.answers if a["type"] == "Document" and a["url"] == url]
        return docs[-1] if docs else None


class Shop:
    """The storefront as a person uses it: open, click, type, submit; each page checked and kept."""

    def __init__(self, driver, base_url: str, shots: Path):
        self.driver = driver
        self.base_url = base_url
        self.shots = shots
        self.network = NetworkLog(driver)
        self.pages: list[tuple[str, str]] = []  # (path, the service its footer names)
        self.console_errors: list[str] = []

    # navigation ---------------------------------------------------------------------------------
    def open(self, path: str, name: str, *, footer: bool = True) -> str:
        self.driver.get(self.base_url + path)
        return self._arrived(name, footer=footer)

    def click(self, css: str, name: str, *, text: str | None = None) -> str:
        """Click the element (a link or a button) and wait for the page it leads to."""
        element = self.find(css, text=text)
        self._mark_page()
        element.click()
        return self._arrived(name)

    def submit(self, form_css: str, fields: dict[str, str], name: str, *,
               footer: bool = True) -> str:
        """Type into a form's fields (by name) and press its button, as a person would."""
        form = self.find(form_css)
        for field, value in fields.items():
            box = form.find_element("css selector", f"[name={field}]")
            box.clear()
            box.send_keys(value)
        self._mark_page()
        form.find_element("css selector", "button, [type=submit]").click()
        return self._arrived(name, footer=footer)

    def log_in(self, username: str, name: str = "logged-in") -> str:
        return self.submit("main form", {"username": username, "password": CUSTOMERS[username]},
                           name)

    # reading the page ---------------------------------------------------------------------------
    def find(self, css: str, *, text: str | None = None):
        for element in self.driver.find_elements("css selector", css):
            if text is None or text in element.text:
                return element
        raise AssertionError(f"{self.path}: no {css!r}" + (f" with {text!r}" if text else ""))

    def texts(self, css: str) -> list[str]:
        return [e.text.strip() for e in self.driver.find_elements("css selector", css)]

    def text(self, css: str) -> str:
        return self.find(css).text.strip()

    @property
    def path(self) -> str:
        parts = urlsplit(self.driver.current_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    @property
    def served_by(self) -> str:
        return self.pages[-1][1]

    def messages(self) -> list[str]:
        return self.texts("main .message")

    def fetch(self, path: str) -> dict:
        """GET `path` from inside the page (same origin): status, final URL and content type."""
        return self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0]).then(r => done({status: r.status, url: r.url,"
            " type: r.headers.get('content-type')}), e => done({status: 0, url: String(e)}));",
            path)

    # the checks every page gets ------------------------------------------------------------------
    def _mark_page(self) -> None:
        """Tag the page we are on, so that the next one is known when it has replaced it."""
        self.driver.execute_script("window.walkPage = 'left behind'")

    def look(self, name: str) -> str:
        """The page as it is now (one that refreshed itself): checked and kept, as on arrival."""
        return self._arrived(name)

    def _arrived(self, name: str, *, footer: bool = True) -> str:
        """The page is loaded and kept; it names its service (pages of the shop's own: in the
        footer, as the header does; Django's admin has no footer, only the header)."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        # While one document replaces another, the driver may answer "document unloaded" or
        # "no such execution context": ask again until the new page is there and complete.
        WebDriverWait(self.driver, WAIT, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script(
                "return document.readyState === 'complete' && !window.walkPage"))
        self._read_logs()
        self.driver.save_screenshot(str(self.shots / f"{len(self.pages) + 1:02d}-{name}.png"))
        answer = self.network.document(self.driver.current_url)
        assert answer, f"{self.path}: the network log has no answer for this page"
        headers = {k.lower(): v for k, v in answer["headers"].items()}
        service = headers.get("x-served-by")
        assert service, f"{self.path}: no X-Served-By header"
        if footer:
            named = self.driver.find_elements("css selector", "footer [data-service]")
            assert named, f"{self.path}: no footer naming the service"
            assert named[-1].get_attribute("data-service") == service, (
                f"{self.path}: the footer names {named[-1].get_attribute('data-service')!r}, "
                f"X-Served-By says {service!r}")
        self.pages.append((self.path, service))
        return service

    def _read_logs(self) -> None:
        self.network.drain()
        self.console_errors += [e["message"] for e in self.driver.get_log("browser")
                                if e["level"] == "SEVERE"]

    def assert_stayed_healthy(self) -> None:
        # Late arrivals count too: the icon, for one, is fetched after the page has loaded.
        self._read_logs()
        assert self.network.requests, "the network log saw no request at all: is it switched on?"
        away = self.network.left_the_machine()
        assert not away, f"requests left 127.0.0.1: {away}"
        failed = self.network.failed_answers()
        assert not failed, f"answers of 400 or more: {failed}"
        assert not self.console_errors, f"console errors: {self.console_errors}"


@pytest.fixture
def shop(chromium, stage, screenshots, request) -> Iterator[Shop]:
    """A visitor with no cookies, on this stage's front door."""
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chromium.get_log("performance")  # what earlier tests left in the log is theirs
    chromium.get_log("browser")
    folder = screenshots / re.sub(r"[^\w.-]+", "_", request.node.name)
    folder.mkdir()
    visitor = Shop(chromium, stage, folder)
    request.node.stash[_shop_key] = visitor
    yield visitor
    visitor.assert_stayed_healthy()


_shop_key = pytest.StashKey[Shop]()


@pytest.fixture
def network_log(chromium) -> NetworkLog:
    """Chromium's network log, emptied of what earlier tests left in it."""
    chromium.get_log("performance")
    return NetworkLog(chromium)


@pytest.fixture
def find_chromium():
    return _chromium


@pytest.fixture
def order_pages_by() -> str:
    return ORDER_PAGES_BY


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    visitor = item.stash.get(_shop_key, None)
    if visitor is not None and report.failed:
        with contextlib.suppress(Exception):  # the browser itself may be what broke, or be gone
            visitor.driver.save_screenshot(str(visitor.shots / f"failed-{report.when}.png"))
        opened = "\n".join(f"  {path}  (rendered by {service})" for path, service in visitor.pages)
        report.sections.append(("browser", f"screenshots: {visitor.shots}\npages:\n{opened}\n"
                                           f"stage log: {_boot.tmp and _boot.tmp / 'stage.log'}"))
    return report
