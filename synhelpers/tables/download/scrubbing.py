"""The secrets seen in this process, and :func:`scrub`, which masks them in any text.

Kept apart from :mod:`.token` so that the error types (:mod:`.errors`) can scrub their
messages without importing the token code that raises them.
"""

from __future__ import annotations

__all__ = ["remember_secret", "scrub"]

_SECRETS: set[str] = set()


def remember_secret(value: str) -> None:
    """Register ``value`` so that :func:`scrub` masks it from now on."""
    if value:
        _SECRETS.add(value)


def scrub(text: str) -> str:
    """Mask every secret seen in this process inside ``text``.

    Example:
        >>> remember_secret("s3cr3t-token")
        >>> scrub("Bearer s3cr3t-token failed")
        'Bearer *** failed'
    """
    for s in sorted(_SECRETS, key=len, reverse=True):
        if s in text:
            text = text.replace(s, "***")
    return text
