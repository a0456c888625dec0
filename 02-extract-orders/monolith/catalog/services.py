"""What other contexts may ask the catalog. They call these functions, never its tables."""

from catalog.models import Product


def active_products():
    return Product.objects.filter(active=True)


def products_by_id(ids):
    return {p.id: p for p in active_products().filter(id__in=ids)}
