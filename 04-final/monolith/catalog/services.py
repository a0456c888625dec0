"""What other contexts may ask the catalog. They call these functions, never its tables."""

from django.db import connection

from catalog.models import Product


def active_products():
    return Product.objects.filter(active=True)


def products_by_id(ids):
    return {p.id: p for p in active_products().filter(id__in=ids)}


def names_and_prices(ids) -> dict[int, tuple[str, int]]:
    """(name, price in cents) of each active product among `ids`, as of now. One plain query, no
    model instances: the inventory's gRPC reserve asks this on every call (bench/README.md)."""
    ids = [int(i) for i in ids]
    placeholders = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, name, price_cents FROM {Product._meta.db_table} "  # noqa: S608
            f"WHERE active AND id IN ({placeholders})", ids)
        return {pid: (name, price) for pid, name, price in cursor.fetchall()}
