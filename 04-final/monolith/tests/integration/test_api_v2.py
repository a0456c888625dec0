"""Version 2 of the catalogue beside version 1, asked for in the media type on the same URL."""

from email.utils import parsedate_to_datetime

from catalog.models import Product

V2 = "application/json; version=v2"


def test_v2_gives_the_price_as_an_amount_and_a_currency(api, seeded):
    product = Product.objects.get(slug="last-teapot")  # 4500 cents
    v2 = api.get(f"/api/v1/products/{product.pk}/", HTTP_ACCEPT=V2)
    assert v2.status_code == 200
    assert v2.json()["price"] == {"amount": "45.00", "currency": "EUR"}
    assert "price_cents" not in v2.json()
    assert "Deprecation" not in v2.headers and "Accept" in v2.headers["Vary"]
    page = api.get("/api/v1/products/", {"search": "teapot"}, HTTP_ACCEPT=V2).json()
    assert [p["price"]["amount"] for p in page["results"]] == ["45.00"]


def test_amounts_keep_their_cents_exactly(api, seeded):
    for cents, amount in ((5, "0.05"), (950, "9.50"), (49900, "499.00"), (1, "0.01")):
        Product.objects.filter(slug="honey-jar").update(price_cents=cents)
        pk = Product.objects.get(slug="honey-jar").pk
        assert api.get(f"/api/v1/products/{pk}/", HTTP_ACCEPT=V2).json()["price"]["amount"] \
            == amount


def test_v1_still_answers_as_before_and_says_when_it_goes(api, seeded):
    product = Product.objects.get(slug="last-teapot")
    for accept in (None, "application/json", "application/json; version=v1", "*/*"):
        v1 = api.get(f"/api/v1/products/{product.pk}/",
                     **({"HTTP_ACCEPT": accept} if accept else {}))
        assert v1.status_code == 200 and v1.json()["price_cents"] == 4500, accept
        assert v1.headers["Deprecation"].startswith("@")
        assert parsedate_to_datetime(v1.headers["Sunset"]).year == 2027
        assert 'rel="successor-version"' in v1.headers["Link"]
        assert 'version=v2' in v1.headers["Link"]
    # Only what v2 replaces is deprecated: the rest of v1 has no successor yet.
    assert "Deprecation" not in api.get("/api/v1/").headers


def test_an_unknown_version_is_a_406_and_the_v2_path_stays_a_404(api, seeded):
    resp = api.get("/api/v1/products/", HTTP_ACCEPT="application/json; version=v3")
    assert resp.status_code == 406 and resp.json()["detail"]
    # The contract pins it (acceptance/test_errors.py): the version is not in the path.
    assert api.get("/api/v2/products/").status_code == 404


def test_v2_errors_keep_the_contracts_shape(api, seeded):
    missing = api.get("/api/v1/products/999999/", HTTP_ACCEPT=V2)
    assert missing.status_code == 404
    assert missing.json() == api.get("/api/v1/products/999999/").json()
    assert api.get("/api/v1/products/", {"page": "x"}, HTTP_ACCEPT=V2).status_code == 400
