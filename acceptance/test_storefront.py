"""The HTML storefront renders, and every page's footer names the service that rendered it."""

import html
import re

import pytest

FOOTER = re.compile(r"""data-service\s*=\s*["']([^"']*)["']""")


def assert_page(resp) -> str:
    """A 200 HTML page whose footer names the same service as its X-Served-By header."""
    assert resp.status_code == 200, f"{resp.url}: {resp.status_code}"
    assert resp.headers["content-type"].startswith("text/html"), resp.headers["content-type"]
    named = FOOTER.findall(resp.text)
    assert named, f"{resp.url}: no data-service in the page"
    service = named[-1]
    assert service.strip(), f"{resp.url}: data-service is empty"
    header = resp.headers.get("X-Served-By")
    assert service == header, f"{resp.url}: footer says {service!r}, X-Served-By says {header!r}"
    return html.unescape(resp.text)


def product_links(page: str) -> list[str]:
    return sorted(set(re.findall(r"""href\s*=\s*["'](?:https?://[^/"']+)?(/products/[^"'?#]+/)""",
                                 page)))


@pytest.mark.parametrize("path", ["/", "/?page=2", "/cart/", "/accounts/login/"])
def test_a_storefront_page_renders_and_names_its_service(browser, path):
    assert_page(browser.get(path))


def test_the_home_page_lists_products_by_name_and_links_to_them(browser, catalogue):
    page = assert_page(browser.get("/"))
    assert catalogue[0]["name"] in page
    assert f"/products/{catalogue[0]['slug']}/" in product_links(page)


def test_a_product_page_found_from_the_list_renders(browser):
    links = product_links(assert_page(browser.get("/")))
    assert links, "the home page links to no product page"
    assert_page(browser.get(links[0]))


def test_a_product_page_by_its_api_slug_shows_name_and_price(browser, catalogue):
    product = catalogue[0]
    page = assert_page(browser.get(f"/products/{product['slug']}/"))
    assert product["name"] in page
    cents = product["price_cents"]
    euros, rest = divmod(cents, 100)
    assert f"{euros}.{rest:02d}" in page or f"{euros},{rest:02d}" in page, "price not shown"


def test_the_storefront_search_finds_by_name(browser, catalogue):
    product = catalogue[0]
    word = max(re.findall(r"[A-Za-z]{3,}", product["name"]), key=len)
    page = assert_page(browser.get("/", params={"q": word.upper()}))
    assert product["name"] in page


@pytest.mark.parametrize("path", ["/orders/", "/checkout/"])
def test_pages_for_a_customer_send_a_stranger_to_a_page_that_still_names_its_service(browser,
                                                                                      path):
    resp = browser.get(path)
    assert_page(resp)
    if path == "/orders/":  # the history needs a login
        assert resp.url.path.startswith("/accounts/login/"), resp.url


def test_a_customer_logs_in_through_the_form_and_sees_the_order_history(browser):
    form = browser.get("/accounts/login/")
    assert_page(form)
    token = re.search(r"""name=["']csrfmiddlewaretoken["']\s+value=["']([^"']+)["']""", form.text)
    data = {"username": "alice", "password": "wonderland"}
    if token:
        data["csrfmiddlewaretoken"] = token.group(1)
    resp = browser.post(str(form.url), data=data, headers={"Referer": str(form.url)})
    assert_page(resp)
    history = browser.get("/orders/")
    assert_page(history)
    assert history.url.path == "/orders/", f"still sent to {history.url}"


def test_the_admin_answers(browser):
    resp = browser.get("/admin/")
    assert resp.status_code == 200
    assert resp.headers.get("X-Served-By")
