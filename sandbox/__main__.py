"""``python -m sandbox``: run a small sandbox until Ctrl-C and show how to reach it."""

from __future__ import annotations

import argparse
import shlex
import threading

from sandbox.faults import AfterReboot, Fault
from sandbox.region import Sandbox


def main(argv: list[str] | None = None, stop: threading.Event | None = None) -> None:
    """Run until Ctrl-C, or until ``stop`` is set (for callers in a thread)."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Run a local AWS region with a few faulty instances.",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.1,
        help="multiplier for every sandbox duration (default 0.1: 60 s boot = 6 s)",
    )
    parser.add_argument(
        "--regions", nargs="+", default=["us-east-1", "eu-west-1"], metavar="REGION"
    )
    args = parser.parse_args(argv)

    with Sandbox(regions=args.regions, time_scale=args.time_scale) as sandbox:
        first, last = args.regions[0], args.regions[-1]
        managed = {"firstline:managed": "true"}
        sandbox.add_instance(first, "web-healthy", tags=managed)
        sandbox.add_instance(
            first,
            "web-hung",
            faults={Fault.HUNG},
            after_reboot=AfterReboot.HEALTHY,
            tags=managed,
        )
        sandbox.add_instance(
            last,
            "web-500-stays-broken",
            faults={Fault.HTTP_500},
            after_reboot=AfterReboot.BROKEN,
            tags=managed,
        )
        sandbox.add_instance(
            last, "web-reboot-denied", faults={Fault.REBOOT_FAILS}, tags=managed
        )

        print(f"moto endpoint: {sandbox.endpoint_url}  account {sandbox.account_id}")
        print("environment for boto3 / aws-cli:")
        for key, value in sandbox.aws_env().items():
            print(f"  export {key}={shlex.quote(value)}")
        print()
        header = ("instance", "region", "name", "url", "ssh", "health check")
        print("{:<20} {:<10} {:<22} {:<24} {:<16} {}".format(*header))
        for instance in sandbox.instances:
            faults = ",".join(f.value for f in sandbox.faults(instance.instance_id))
            print(
                f"{instance.instance_id:<20} {instance.region:<10} "
                f"{instance.name:<22} {instance.url:<24} "
                f"127.0.0.1:{instance.ssh_port:<6} {instance.health_check_id} "
                f"[{faults or 'no faults'}]"
            )
        print("\nRunning; press Ctrl-C to stop.", flush=True)
        try:
            (stop or threading.Event()).wait()
        except KeyboardInterrupt:
            pass
        print("Stopping the sandbox.", flush=True)


if __name__ == "__main__":
    main()
