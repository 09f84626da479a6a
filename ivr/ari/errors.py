"""Errors raised by the ARI client: every one carries the HTTP status and Asterisk's own message."""

from __future__ import annotations


class AriError(Exception):
    """Asterisk answered with an error status (or did not answer at all: status 0)."""

    def __init__(self, status: int, message: str, *, method: str = "", path: str = "") -> None:
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        where = f" ({method} {path})" if method else ""
        super().__init__(f"ARI {status}: {message}{where}")


class NotFound(AriError):
    """404: the channel, playback, recording or bridge does not exist (any more)."""


class ChannelNotFound(NotFound):
    """404 on a /channels/{id} path: routine once the caller has hung up."""


class Conflict(AriError):
    """409: e.g. a recording name that exists, or a channel that is not in Stasis."""


class AriUnavailable(AriError):
    """Asterisk could not be reached or did not answer in time (status 0), or answered 5xx."""


class AriTimeout(AriUnavailable):
    """A REST request got no answer within the client's timeout."""


def error_for(status: int, message: str, *, method: str, path: str) -> AriError:
    """The most specific error class for an HTTP error answer."""
    if status == 404:
        cls: type[AriError] = ChannelNotFound if path.startswith("/channels/") else NotFound
    elif status == 409:
        cls = Conflict
    elif status >= 500:
        cls = AriUnavailable
    else:
        cls = AriError
    return cls(status, message, method=method, path=path)
