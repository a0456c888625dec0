from django import template

register = template.Library()


@register.filter
def cents(value):
    """1450 -> "14.50": money is stored in integer cents and only formatted at the edge."""
    return f"{int(value) / 100:.2f}"
