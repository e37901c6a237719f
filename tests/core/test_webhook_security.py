"""The shared security suite, run against one test double per verifier scheme."""

from tests.core.webhook_doubles import (
    Base64BodyScheme,
    DocusealLikeScheme,
    RegisteredScheme,
    RevolutLikeScheme,
    SharedSecretScheme,
)
from tests.core.webhook_security import WebhookSecuritySuite


class TestSharedSecretHeaderScheme(RegisteredScheme, SharedSecretScheme, WebhookSecuritySuite):
    pass


class TestBase64BodyHmacScheme(RegisteredScheme, Base64BodyScheme, WebhookSecuritySuite):
    pass


class TestRevolutTimestampedScheme(RegisteredScheme, RevolutLikeScheme, WebhookSecuritySuite):
    pass


class TestDocusealTimestampedScheme(RegisteredScheme, DocusealLikeScheme, WebhookSecuritySuite):
    pass
