"""API v2 beside v1: the catalogue's money as an amount and a currency; v1 unchanged, deprecated."""

from email.utils import parsedate_to_datetime

from catalog.models import Product


def test_v2_gives_the_price_as_an_amount_and_a_currency(api, seeded):
    product = Product.objects.get(slug="last-teapot")  # 4500 cents
    v2 = api.get(f"/api/v2/products/{product.pk}/")
    assert v2.status_code == 200
    assert v2.json()["price"] == {"amount": "45.00", "currency": "EUR"}
    assert "price_cents" not in v2.json()
    assert "deprecation" not in {k.lower() for k in v2.headers}
    page = api.get("/api/v2/products/", {"search": "teapot"}).json()
    assert [p["price"]["amount"] for p in page["results"]] == ["45.00"]


def test_amounts_keep_their_cents_exactly(api, seeded):
    for cents, amount in ((5, "0.05"), (950, "9.50"), (49900, "499.00"), (1, "0.01")):
        Product.objects.filter(slug="honey-jar").update(price_cents=cents)
        pk = Product.objects.get(slug="honey-jar").pk
        assert api.get(f"/api/v2/products/{pk}/").json()["price"]["amount"] == amount


def test_v1_still_answers_as_before_and_says_when_it_goes(api, seeded):
    product = Product.objects.get(slug="last-teapot")
    v1 = api.get(f"/api/v1/products/{product.pk}/")
    assert v1.status_code == 200 and v1.json()["price_cents"] == 4500
    assert v1.headers["Deprecation"].startswith("@")
    assert parsedate_to_datetime(v1.headers["Sunset"]).year == 2027
    assert v1.headers["Link"] == f'</api/v2/products/{product.pk}/>; rel="successor-version"'
    # Only what v2 replaces is deprecated: the rest of v1 has no successor yet.
    assert "Deprecation" not in api.get("/api/v1/").headers


def test_v2_errors_keep_the_contracts_shape(api, seeded):
    missing = api.get("/api/v2/products/999999/")
    assert missing.status_code == 404
    assert missing.json() == api.get("/api/v1/products/999999/").json()
    assert api.get("/api/v2/products/", {"page": "x"}).status_code == 400
