"""How the remediation flow is deployed and served.

- ``prefect.yaml``: the deployment ``remediate-instance/on-alarm`` and its trigger,
  for ``prefect deploy`` and a work pool;
- ``spec``: that file read and checked with Prefect's own models, and applied to a
  server without a work pool;
- ``fast_runner``: runs the deployment's flow runs in threads of one process;
- ``serve``: ``python -m deployments.serve``, which applies the deployment and
  serves it in either mode;
- ``alarm_events`` and ``latency``: EventBridge alarm events for the sandbox, and
  the time from one such event to the first check of its run.
"""
