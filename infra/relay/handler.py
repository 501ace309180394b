"""The Lambda entry point: ``infra.relay.handler.handler``.

Settings come from the environment (see ``config``); a ``Relay`` is built once per
set of settings, so the Prefect credential is read once per cold start (and again
after the Prefect API refused it). The handler
returns the decision as a dict and raises for anything a retry might fix or a person
must fix, so that Lambda's retries and its on-failure destination keep the event.
"""

from __future__ import annotations

import functools
import logging
import os

from .config import RelayConfig
from .relay import Relay

_relay_logger = logging.getLogger("firstline.relay")
if _relay_logger.level == logging.NOTSET:
    # Lambda's root logger passes WARNING and above; the relay's decisions are INFO.
    _relay_logger.setLevel(logging.INFO)


@functools.lru_cache(maxsize=1)
def _relay_for(config: RelayConfig) -> Relay:
    return Relay(config)


def handler(event: object, context: object = None) -> dict[str, str | bool | None]:
    """Relay one EventBridge event; ``context`` (Lambda's) is not used.

    Returns:
        ``{"decision": "posted" | "dropped" | "ignored", "reason": ...,
        "eventbridge_event_id": ..., "prefect_event_id": ...,
        "delivery": "event" | "flow-run", "flow_run_id": ...,
        "already_created": true | false | null}``; see ``relay.Decision``.

    Raises:
        ConfigurationError: a setting is missing or wrong, or the API answered 4xx.
        CredentialError: the Prefect secret could not be read or used.
        PrefectUnavailable: the Prefect API stayed unreachable or 5xx.
    """
    config = RelayConfig.from_environment(os.environ)
    return _relay_for(config).handle(event).as_dict()
