"""The errors firstline raises.

FirstlineError
 ├── ConfigError            the fleet file or a parameter is not understood
 │    └── UnknownInstanceError  the instance is not opted in to firstline
 ├── CheckError             a check could not run (not: the check failed)
 ├── AwsCallError           an AWS API call failed (describe, reboot, ...)
 ├── SecretError            a named secret could not be read
 └── NotificationError      a message or page could not be delivered

A failing check is never an exception: it is a ``CheckResult`` whose status is
``failed``. Exceptions mean that firstline could not decide, so it must not act.
"""

from __future__ import annotations


class FirstlineError(Exception):
    """Base of every error firstline raises on purpose."""


class ConfigError(FirstlineError):
    """The fleet file, a flow parameter or a setting is not understood."""


class UnknownInstanceError(ConfigError):
    """The instance is not in the fleet file and carries no opt-in tag."""


class CheckError(FirstlineError):
    """A check could not run, so its outcome is unknown."""


class AwsCallError(FirstlineError):
    """An AWS API call failed; the message names the call and the target."""


class SecretError(FirstlineError):
    """A secret named in the configuration could not be read."""


class NotificationError(FirstlineError):
    """A Slack message or a page could not be delivered after retries."""
