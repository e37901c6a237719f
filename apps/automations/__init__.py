"""Cross-system reactions (a signed quote converted to an invoice, reminders stopped when it is paid...).

The only place where two system apps meet. Empty for now: with Invoice Ninja and Revolut alone no event of
one system acts on the other; DocuSeal and Mautic bring the first reactions.
"""
