"""Every change of a signature request reports the quote's signature state, so mirrors (Directus) show it."""

import pytest

from apps.core import signals
from apps.docuseal import signatures
from apps.docuseal.models import SignatureRequest


@pytest.mark.django_db
def test_a_signed_quote_is_reported_as_signed(connection, quote):
    seen = []

    def receiver(sender, **kwargs):
        seen.append((sender, kwargs.get("record"), kwargs.get("signature_state")))

    signals.integration_status_reported.connect(receiver, dispatch_uid="test-docuseal-reports")
    try:
        request = SignatureRequest.objects.create(connection=connection, quote=quote, submission_id=41,
                                                  source=SignatureRequest.Source.TEMPLATE,
                                                  status=SignatureRequest.Status.COMPLETED)
        signatures.changed(request)
    finally:
        signals.integration_status_reported.disconnect(dispatch_uid="test-docuseal-reports")
    assert seen == [("docuseal", quote, "completed")]
