"""The relay's errors.

The relay runs alone in a Lambda bundle without the ``firstline`` package, so its
tree has its own root instead of ``firstline.errors.FirstlineError``::

    RelayError
    ├── InvalidEvent          the event is not one the relay understands: dropped
    ├── ConfigurationError    a setting is wrong: the handler raises
    │   └── PrefectRejected   the Prefect API answered 4xx, or a 2xx the relay
    │                         cannot use: says what to fix
    ├── CredentialError       the Secrets Manager secret could not be used
    └── PrefectUnavailable    the Prefect API stayed unreachable or 5xx

No message in this tree contains a credential.
"""

from __future__ import annotations


class RelayError(Exception):
    """Base of every error the relay raises on purpose."""


class InvalidEvent(RelayError):
    """The event is malformed or of a shape the relay does not act on."""


class ConfigurationError(RelayError):
    """A setting of the relay is missing or wrong; the message names it."""


class PrefectRejected(ConfigurationError):
    """The Prefect API refused a request with a 3xx or 4xx status, or answered one
    with a 2xx the relay cannot use (no flow run id); ``status_code`` is its status.
    """

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class CredentialError(RelayError):
    """The Prefect credential could not be read from Secrets Manager or parsed."""


class PrefectUnavailable(RelayError):
    """The Prefect API was unreachable or answered 5xx on every attempt."""
