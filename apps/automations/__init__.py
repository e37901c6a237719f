"""Cross-system reactions (a signed quote converted to an invoice, reminders stopped when it is paid...).

The only place where two system apps meet. payment_links.py: Mautic reminders carry Invoice Ninja's payment
link. (Reminders stopping when an invoice is paid needs nothing here: Mautic reacts to the hub invoice.)
"""
