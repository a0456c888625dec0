from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from catalog.models import Product
from inventory.models import Stock


def snapshot():
    return (
        list(Product.objects.order_by("slug").values_list("slug", "name", "price_cents")),
        list(Stock.objects.order_by("product__slug").values_list("product__slug", "quantity")),
        sorted(get_user_model().objects.values_list("username", "is_staff")),
    )


def test_seed_is_deterministic_and_safe_to_rerun(seeded):
    first = snapshot()
    call_command("seed")
    assert snapshot() == first
    products, stock, users = first
    assert len(products) >= 20
    assert dict(stock)["last-teapot"] == 1
    assert all(5 <= qty <= 50 for slug, qty in stock if slug != "last-teapot")
    assert users == [("admin", True), ("alice", False), ("bob", False), ("carol", False)]


def test_demo_logins_work(seeded):
    for username, password in [
        ("admin", "workshop-admin"),
        ("alice", "wonderland"),
        ("bob", "builder"),
        ("carol", "christmas"),
    ]:
        assert authenticate(username=username, password=password) is not None


def test_reseeding_keeps_stock_that_orders_changed(seeded):
    Stock.objects.filter(product__slug="espresso-cup").update(quantity=3)
    call_command("seed")
    assert Stock.objects.get(product__slug="espresso-cup").quantity == 3
