"""Browsing the catalogue: anyone may, 10 products a page, ordered by name, prices in cents."""

import re

from conftest import all_products

PRODUCT_FIELDS = {"id", "slug", "name", "description", "price_cents", "stock"}


def longest_word(text: str) -> str:
    """The longest ASCII word of text (ASCII: case-insensitivity beyond it is the database's)."""
    words = re.findall(r"[A-Za-z]{3,}", text)
    assert words, f"no word to search for in {text!r}"
    return max(words, key=len)


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def test_the_catalogue_lists_at_least_20_products_10_per_page(anon):
    resp = anon.get("/api/v1/products/")
    assert resp.status_code == 200
    body = resp.json()
    assert {"count", "next", "previous", "results"} <= body.keys()
    assert body["count"] >= 20
    assert len(body["results"]) == 10
    assert body["previous"] is None
    assert body["next"]


def test_walking_every_page_yields_count_distinct_products(anon):
    count = anon.get("/api/v1/products/").json()["count"]
    products = all_products(anon)
    assert len(products) == count
    assert len({p["id"] for p in products}) == count


def test_products_are_ordered_by_name(anon):
    names = [p["name"] for p in all_products(anon)]
    assert names in (sorted(names), sorted(names, key=str.casefold)), names


def test_page_2_differs_and_next_previous_links_lead_back_and_forth(anon):
    first = anon.get("/api/v1/products/").json()
    second_resp = anon.get(first["next"])
    assert second_resp.status_code == 200
    second = second_resp.json()
    assert {p["id"] for p in second["results"]}.isdisjoint({p["id"] for p in first["results"]})
    assert second["results"] == anon.get("/api/v1/products/", params={"page": 2}).json()["results"]
    assert second["previous"]
    back = anon.get(second["previous"])
    assert back.status_code == 200
    assert back.json()["results"] == first["results"]


def test_a_page_beyond_the_end_is_404(anon):
    count = anon.get("/api/v1/products/").json()["count"]
    beyond = count // 10 + 2
    assert anon.get("/api/v1/products/", params={"page": beyond}).status_code == 404


def test_the_last_page_has_no_next_link(anon):
    count = anon.get("/api/v1/products/").json()["count"]
    last = (count + 9) // 10
    body = anon.get("/api/v1/products/", params={"page": last}).json()
    assert body["next"] is None
    assert len(body["results"]) == count - 10 * (last - 1)


def test_search_finds_a_product_by_a_word_of_its_name_in_any_case(anon, catalogue):
    product = catalogue[0]
    word = longest_word(product["name"])
    for query in (word.upper(), word.lower()):
        found = all_products(anon, search=query)
        assert product["id"] in {p["id"] for p in found}, f"search={query!r}"


def test_search_matches_the_description_too(anon, catalogue):
    product = catalogue[1]
    name = product["name"].casefold()
    words = [w for w in re.findall(r"[A-Za-z]{4,}", product["description"])
             if w.casefold() not in name]
    assert words, f"no description word outside the name to search for: {product}"
    word = max(words, key=len)
    found = all_products(anon, search=word.swapcase())
    assert product["id"] in {p["id"] for p in found}, f"search={word.swapcase()!r}"


def test_search_results_really_match(anon, catalogue):
    word = longest_word(catalogue[0]["name"])
    for p in all_products(anon, search=word):
        assert word.casefold() in (p["name"] + " " + p["description"]).casefold(), p


def test_a_nonsense_search_finds_nothing(anon):
    body = anon.get("/api/v1/products/", params={"search": "zqxjkvw-no-such-thing"}).json()
    assert body["count"] == 0
    assert body["results"] == []


def test_product_detail_has_every_field_and_money_in_integer_cents(anon, catalogue):
    listed = catalogue[0]
    resp = anon.get(f"/api/v1/products/{listed['id']}/")
    assert resp.status_code == 200
    product = resp.json()
    assert product.keys() >= PRODUCT_FIELDS
    assert product["id"] == listed["id"]
    assert is_int(product["price_cents"]) and product["price_cents"] > 0
    assert is_int(product["stock"]) and product["stock"] >= 0
    for field in ("slug", "name", "description"):
        assert isinstance(product[field], str) and product[field]
    assert re.fullmatch(r"[-a-zA-Z0-9_]+", product["slug"])


def test_every_listed_product_has_the_contract_fields(anon):
    for product in all_products(anon):
        assert product.keys() >= PRODUCT_FIELDS, product
        assert is_int(product["id"]) and is_int(product["price_cents"]) and is_int(product["stock"])


def test_the_seeded_last_teapot_is_in_the_catalogue(teapot):
    assert teapot["slug"] == "last-teapot"


def test_an_unknown_product_is_404(anon):
    assert anon.get("/api/v1/products/999999999/").status_code == 404
    assert anon.get("/api/v1/products/not-a-number/").status_code == 404
