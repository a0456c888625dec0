from django import template

register = template.Library()


@register.filter
def euros(cents):
    """1450 -> "€14.50": money is stored in integer cents and only formatted at the edge.

    One currency, shown the same on every page; the API keeps `price_cents` as it is.
    """
    return f"€{int(cents) / 100:.2f}"
