"""Fixtures shared by the integration tests."""

from tests.helpers.slack import fake_slack  # noqa: F401  (the fake Slack Web API)
