"""Amounts and numbers in templates, as everywhere else (apps.core.numbers): {{ invoice.total|money:invoice.currency }}."""

from django import template

from apps.core.numbers import format_money, format_number

register = template.Library()


@register.filter
def money(amount, currency="EUR"):
    return format_money(amount, currency)


@register.filter
def number(value, decimal_places=2):
    return format_number(value, int(decimal_places))
