"""Approval mode: pause before the reboot until a person answers in the Prefect UI."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from prefect import get_client
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Running

from firstline.logs import get_logger
from firstline.models import Hold, HoldKind
from firstline.settings import ApprovalSettings


class RebootApproval(RunInput):
    """The form the Prefect UI shows when a reboot waits for approval."""

    decision: Literal["approve", "decline"]
    reason: str = ""


def ask_for_approval(
    instance_id: str, region: str, settings: ApprovalSettings
) -> Hold | None:
    """None when approved; a hold when declined or when nobody answered in time."""
    logger = get_logger()
    logger.warning(
        "decision for %s (%s): reboot waits for approval in the Prefect UI; "
        "next: page if nobody answers within %.0f s",
        instance_id,
        region,
        settings.timeout_seconds,
    )
    try:
        answer = pause_flow_run(
            wait_for_input=RebootApproval,
            timeout=max(1, int(settings.timeout_seconds)),
            poll_interval=1,
            key=f"approve-reboot-{instance_id}",
        )
    except FlowPauseTimeout:
        _resume_after_timeout()
        return Hold(
            kind=HoldKind.APPROVAL_TIMEOUT,
            reason=(
                f"nobody approved the reboot within {settings.timeout_seconds:.0f} s; "
                "paging instead"
            ),
            page=True,
        )
    if answer.decision == "approve":
        logger.warning(
            "decision for %s (%s): reboot approved (%s)",
            instance_id,
            region,
            answer.reason or "no reason given",
        )
        return None
    return Hold(
        kind=HoldKind.APPROVAL_DECLINED,
        reason="reboot declined in the Prefect UI: "
        + (answer.reason or "no reason given"),
        page=False,
    )


def _resume_after_timeout() -> None:
    # The server refuses every transition out of a pause whose time has run out,
    # so the run could not even record its verdict; it is set running again
    # (forced) to page and finish.
    run_id = flow_run.get_id()
    if run_id is None:
        return
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(run_id), Running(), force=True)
