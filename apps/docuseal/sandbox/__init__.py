"""The DocuSeal emulator, mounted under /sandbox/docuseal/ (a self-hosted instance: the API under /api/).

api.py: the API (NOTES §4–5) · pages.py: the signing form and the account's settings page ·
state.py: serializers, lifecycle, expiring file URLs, signed webhook deliveries · models.py: its tables.
"""
