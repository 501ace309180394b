"""One logger call site for code that runs inside and outside Prefect runs."""

from __future__ import annotations

import logging
from typing import Any

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger


def get_logger(name: str = "firstline") -> logging.Logger | logging.LoggerAdapter[Any]:
    """The run logger inside a flow or task run (so lines reach the UI), else ours."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(name)
