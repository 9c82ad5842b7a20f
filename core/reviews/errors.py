"""Errors of access reviews that a person reads (what went wrong, what to do)."""

from core.errors import UserError


class ReviewError(UserError):
    """A review action that cannot be done as asked."""


class CampaignClosed(ReviewError):
    """The campaign is signed off: it is read-only."""
