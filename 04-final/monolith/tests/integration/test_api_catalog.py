import pytest

from catalog.models import Product


def test_products_are_paginated_ten_per_page_ordered_by_name(api, seeded):
    first = api.get("/api/v1/products/").json()
    assert first["count"] == 24 and len(first["results"]) == 10 and first["previous"] is None
    second = api.get(first["next"]).json()
    names = [p["name"] for p in first["results"] + second["results"]]
    assert names == sorted(names)
    assert api.get("/api/v1/products/?page=99").status_code == 404


def test_search_matches_name_or_description_case_insensitively(api, seeded):
    by_name = api.get("/api/v1/products/?search=TEAPOT").json()["results"]
    assert [p["slug"] for p in by_name] == ["last-teapot"]
    by_description = api.get("/api/v1/products/?search=gooseneck").json()["results"]
    assert [p["slug"] for p in by_description] == ["pour-over-kettle"]
    assert api.get("/api/v1/products/?search=zzzz").json()["count"] == 0


def test_product_detail_has_the_contract_fields_in_integer_cents(api, seeded):
    product = Product.objects.get(slug="last-teapot")
    body = api.get(f"/api/v1/products/{product.id}/").json()
    assert body == {
        "id": product.id,
        "slug": "last-teapot",
        "name": "The last teapot",
        "description": product.description,
        "price_cents": 4500,
        "stock": 1,
    }
    assert api.get("/api/v1/products/999999/").status_code == 404


def test_stock_api_is_staff_only(api, alice_api, seeded):
    from django.contrib.auth import get_user_model

    assert api.get("/api/v1/stock/").status_code == 401
    assert alice_api.get("/api/v1/stock/").status_code == 403
    api.force_authenticate(get_user_model().objects.get(username="admin"))
    assert api.get("/api/v1/stock/").json()["count"] == 24
    product = Product.objects.get(slug="last-teapot")
    resp = api.put(f"/api/v1/stock/{product.id}/", {"quantity": 7}, format="json")
    assert resp.status_code == 200 and resp.json() == {"product_id": product.id, "quantity": 7}
    bad = api.put(f"/api/v1/stock/{product.id}/", {"quantity": -3}, format="json")
    assert bad.status_code == 400 and "quantity" in bad.json()


def test_schema_stitches_in_the_orders_service_and_offline_swagger_ui(api, seeded, monkeypatch):
    import httpx

    from shop import schema as stitching

    theirs = {"paths": {"/api/v1/orders/": {"get": {"operationId": "orders_list"}}},
              "components": {"schemas": {"OrderOut": {"type": "object"}}}}
    monkeypatch.setattr(stitching.httpx, "get", lambda *a, **k: httpx.Response(
        200, json=theirs, request=httpx.Request("GET", "http://orders")))
    schema = api.get("/api/v1/schema/")
    assert schema.status_code == 200 and b"/api/v1/orders/" in schema.content
    assert b"OrderOut" in schema.content and b"/api/v1/products/" in schema.content
    docs = api.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in docs and "/static/drf_spectacular_sidecar/" in docs
    for cdn in ("cdn.", "unpkg", "jsdelivr"):
        assert cdn not in docs


def test_with_the_orders_service_down_the_schema_still_renders_and_says_so(api, seeded,
                                                                        settings):
    settings.ORDERS_URL = "http://127.0.0.1:9"  # nobody listens on the discard port
    schema = api.get("/api/v1/schema/")
    assert schema.status_code == 200 and b"/api/v1/products/" in schema.content
    assert b"/api/v1/orders/" not in schema.content
    assert b"orders service did not answer" in schema.content


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_endpoints(api, db, path):
    resp = api.get(path)
    assert resp.status_code == 200 and resp.json()["service"] == "monolith"
