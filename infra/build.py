"""Build the CDK app from the fleet file and the context: one stack per region.

Stacks (their ids are also their CloudFormation names):

    firstline-<region>                    alarms, rules and relay of one region
    firstline-workers                     the worker's policy (and role); global
    firstline-worker-access-<account>     a role the worker may assume, per extra
                                          fleet account

A region stack's account is the context's, else the CLI's default account, else
left to deploy time: synth needs no credentials and makes no lookups.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk

import firstline
from firstline.errors import ConfigError
from firstline.fleet import Fleet, load_fleet
from infra.config import INFRA_DIR, ContextGetter, InfraConfig
from infra.fleet_secrets import aws_secret_refs
from infra.region_stack import RegionStack
from infra.relay_function import stage_relay_bundle
from infra.worker_stack import WorkerAccessStack, WorkerStack

PYPROJECT = INFRA_DIR.parent / "pyproject.toml"
RELAY_BUNDLE_DIRNAME = "firstline-relay-bundle"
VERSION_TAG = "firstline:version"
REPOSITORY_TAG = "firstline:repository"


def load_settings(
    get: ContextGetter, environ: Mapping[str, str] | None = None
) -> tuple[InfraConfig, Fleet]:
    """The checked context and fleet; ConfigError names the bad key or line."""
    config = InfraConfig.from_context(get, environ)
    return config, load_fleet(config.fleet_path)


def project_tags() -> dict[str, str]:
    """The tags every resource carries: the project's version and repository."""
    try:
        project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
        repository = project["urls"]["Repository"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise ConfigError(
            f"{PYPROJECT}: cannot read project.urls.Repository for the resource "
            f"tags ({exc!r}); run the app from a complete checkout"
        ) from exc
    return {VERSION_TAG: firstline.__version__, REPOSITORY_TAG: str(repository)}


def build_app(app: cdk.App, config: InfraConfig, fleet: Fleet) -> list[cdk.Stack]:
    """Add every stack for ``fleet`` to ``app`` and tag them; return the stacks."""
    bundle_dir = stage_relay_bundle(Path(app.outdir) / RELAY_BUNDLE_DIRNAME)
    stacks: list[cdk.Stack] = []

    for region in fleet.regions:
        instances = [i for i in fleet.instances if i.region == region]
        if not instances:
            # Only defaults for this region: no instance to alarm on, so no stack.
            continue
        stacks.append(
            RegionStack(
                app,
                f"firstline-{region}",
                description=f"firstline: alarms and alarm relay in {region}",
                env=cdk.Environment(account=config.account, region=region),
                instances=instances,
                config=config,
                relay_bundle_dir=bundle_dir,
            )
        )

    stacks.append(
        WorkerStack(
            app,
            "firstline-workers",
            description="firstline: what the Prefect worker may do in AWS",
            env=cdk.Environment(
                account=config.worker_account, region=config.workers_region
            ),
            secret_refs=aws_secret_refs(fleet),
            fleet_accounts=config.fleet_accounts,
            worker_role=config.worker_role,
            worker_role_service=config.worker_role_service,
        )
    )
    for account in config.fleet_accounts:
        assert config.worker_account is not None  # InfraConfig refuses otherwise
        stacks.append(
            WorkerAccessStack(
                app,
                f"firstline-worker-access-{account}",
                description="firstline: a role the Prefect worker may assume",
                env=cdk.Environment(account=account, region=config.workers_region),
                worker_account=config.worker_account,
            )
        )

    for key, value in project_tags().items():
        cdk.Tags.of(app).add(key, value)
    return stacks


def main() -> int:
    """Synthesize, or print what is wrong with the fleet file or context and fail."""
    app = cdk.App()
    try:
        config, fleet = load_settings(app.node.try_get_context, os.environ)
        build_app(app, config, fleet)
    except ConfigError as exc:
        print(f"firstline infra: {exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0
