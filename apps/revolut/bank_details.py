"""Bank detail checks run before anything is sent to Revolut: the hub's own checks (apps.hub.bank_details),
the ones the company form runs when the details are typed."""

from apps.hub.bank_details import (  # noqa: F401  (this app's names for them)
    digits_only,
    normalize_iban,
    validate_bic,
    validate_iban,
    validate_routing_number,
    validate_sort_code,
    validate_uk_account_no,
    validate_us_account_no,
)
