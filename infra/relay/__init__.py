"""The alarm relay: a Lambda turning CloudWatch alarm events into Prefect flow runs.

EventBridge delivers "CloudWatch Alarm State Change" events to ``handler.handler``;
a metric alarm on one EC2 instance entering ``ALARM`` becomes a run of the
deployment named by ``FIRSTLINE_PREFECT_DEPLOYMENT`` or, without one, a
``firstline.alarm.fired`` event posted to the Prefect API. Everything else is logged
and dropped or ignored.

Modules: ``alarm`` and ``metrics`` read the event (pure), ``fields`` and ``regions``
hold the checks they use, ``prefect_event`` builds the Prefect event,
``flow_runs`` creates the flow run, ``prefect_api`` makes their requests,
``secret`` reads the credential, ``config`` the settings, ``relay`` ties them
together and ``handler`` is the Lambda entry point.

At import time these modules use the standard library only; ``secret`` imports the
Lambda runtime's boto3 when it first reads a secret. Imports between them are
relative, so the bundle may ship this folder as ``infra/relay`` (handler
``infra.relay.handler.handler``) or as a top-level ``relay`` package (handler
``relay.handler.handler``).
"""
