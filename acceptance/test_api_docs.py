"""The API describes itself: an OpenAPI 3 schema, and a Swagger UI that works offline."""

import re
from urllib.parse import urljoin, urlsplit

CDN_MARKERS = ("cdn.", "unpkg", "jsdelivr", "cdnjs", "googleapis")


def test_the_openapi_schema_is_version_3_and_lists_the_order_endpoints(anon):
    resp = anon.get("/api/v1/schema/", headers={"Accept": "*/*"})  # YAML or JSON: both are fine
    assert resp.status_code == 200
    text = resp.text
    assert re.search(r"""["']?openapi["']?\s*:\s*["']?3\.""", text), text[:200]
    for path in ("/api/v1/orders/", "/api/v1/products/", "/api/v1/auth/token/"):
        assert path in text, f"{path} missing from the schema"
    assert re.search(r"/api/v1/orders/\{[^}]+\}/cancel/", text), "cancel missing from the schema"


def test_the_swagger_ui_is_html_with_no_cdn(anon):
    resp = anon.get("/api/v1/docs/", headers={"Accept": "text/html"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    lowered = resp.text.lower()
    assert "swagger" in lowered
    for marker in CDN_MARKERS:
        assert marker not in lowered, f"the docs page loads from a CDN ({marker})"


def test_every_asset_of_the_swagger_ui_is_served_by_the_shop(anon, base_url):
    page = anon.get("/api/v1/docs/", headers={"Accept": "text/html"})
    page_url = str(page.url)
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"'#]+)["']""", page.text)
    assert any(a.split("?")[0].endswith(".js") for a in assets), assets
    for asset in assets:
        url = urljoin(page_url, asset)
        assert urlsplit(url).netloc == urlsplit(base_url).netloc, f"external asset {url}"
        resp = anon.get(url, headers={"Accept": "*/*"})
        assert resp.status_code == 200, f"{url}: {resp.status_code}"
