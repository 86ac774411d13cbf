"""neuPrint tokens: where they come from, and how they stay out of every output.

A token comes, in this order, from the ``token`` argument, from a token file the user names,
or from the ``NEUPRINT_APPLICATION_CREDENTIALS`` environment variable. It is wrapped in
:class:`Token`, whose ``repr``/``str`` are masked; only :meth:`Token.reveal` gives the secret,
and only the neuprint-python ``Client`` receives it. Every :class:`~.errors.DownloadError`
message passes through :func:`scrub`, which masks any token seen in this process.

Example:
    >>> t = Token("abc.def.ghi")
    >>> t, str(t)
    (Token('***'), '***')
    >>> scrub("Bearer abc.def.ghi failed")
    'Bearer *** failed'
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import NoTokenError
from .scrubbing import remember_secret, scrub

__all__ = ["Token", "resolve_token", "scrub", "ENV_VAR", "TOKEN_HELP"]

#: The environment variable neuprint-python itself reads.
ENV_VAR = "NEUPRINT_APPLICATION_CREDENTIALS"

#: Where a user gets a token: said in every "no token" message.
TOKEN_HELP = (
    "get a token from your account page on the neuPrint web site (https://neuprint.janelia.org, "
    f"sign in, then 'Account'), then pass token=..., set {ENV_VAR}, or pass token_file=PATH; "
    "or use source='exports' for the public bulk exports, which need no token"
)

class Token:
    """A secret neuPrint token; its ``repr`` and ``str`` never show it.

    Args:
        value: the token string, or the whole JSON document from the neuPrint account page
            (``{"token": "..."}``).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str):
        value = value.strip()
        if value.startswith("{"):
            try:
                value = json.loads(value)["token"]
            except (ValueError, KeyError, TypeError):
                raise ValueError("token JSON document has no 'token' field") from None
        value = value.replace('"', "").strip()
        if not value:
            raise ValueError("empty token")
        self._value = value
        remember_secret(value)

    def reveal(self) -> str:
        """The secret itself; pass it only to ``neuprint.Client``."""
        return self._value

    def __repr__(self) -> str:
        return "Token('***')"

    def __str__(self) -> str:
        return "***"

    def __reduce__(self):  # no pickling into files
        raise TypeError("a Token cannot be pickled")


def resolve_token(token: str | Token | None = None, token_file: str | os.PathLike | None = None) -> Token | None:
    """Find the token: argument, then ``token_file``, then ``$NEUPRINT_APPLICATION_CREDENTIALS``.

    Returns:
        A :class:`Token`, or ``None`` when there is none (the caller raises
        :class:`~.errors.NoTokenError` with :data:`TOKEN_HELP`).

    Raises:
        NoTokenError: ``token_file`` is given but cannot be read or is empty.
    """
    if isinstance(token, Token):
        return token
    if token:
        return Token(str(token))
    if token_file:
        p = Path(token_file).expanduser()
        try:
            text = p.read_text()
        except OSError as e:
            raise NoTokenError(f"cannot read token file {p}: {e.strerror or type(e).__name__}") from None
        try:
            return Token(text)
        except ValueError as e:
            raise NoTokenError(f"token file {p}: {e}") from None
    env = os.environ.get(ENV_VAR)
    if env:
        return Token(env)
    return None
