"""Reserve and release are internal: the orders service calls them over gRPC. Their JSON twin
(inventory/bench_api.py) exists for the benchmark only and must not be on the public API, where
a staff token could give back the stock of a confirmed order (reservation ids are guessable)."""

import pytest
from django.contrib.auth import get_user_model

from inventory.models import Reservation

from ..conftest import client_for, stock_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_api(seeded):
    return client_for(get_user_model().objects.get(username="admin"))


def test_the_public_api_has_no_reservations_even_for_staff(staff_api, product):
    held = Reservation.objects.filter(status="confirmed").first()
    assert held is not None, "the seed gives confirmed legacy orders a reservation"
    before = stock_of(product)
    resp = staff_api.post(f"/api/v1/reservations/{held.reservation_id}/release/")
    assert resp.status_code == 404, resp.content
    assert staff_api.post("/api/v1/reservations/", {"reservation_id": "x", "lines": [
        {"product_id": product.id, "quantity": 1}]}, format="json").status_code == 404
    assert Reservation.objects.get(pk=held.pk).status == "confirmed"
    assert stock_of(product) == before
    assert "/api/v1/reservations/" not in staff_api.get("/api/v1/schema/").content.decode()


@pytest.mark.urls("shop.urls_bench")
def test_the_benchmark_settings_have_them(staff_api, product):
    resp = staff_api.post("/api/v1/reservations/", {"reservation_id": "bench-1", "lines": [
        {"product_id": product.id, "quantity": 1}]}, format="json")
    assert resp.status_code == 201, resp.content
    assert staff_api.post("/api/v1/reservations/bench-1/release/").json() == {"released": True}
