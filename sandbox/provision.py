"""Creating a sandbox instance's AWS side through boto3: the EC2 instance and its
Route 53 health check, as real resources in moto."""

from __future__ import annotations

import uuid
from typing import Any

from moto.ec2.models.amis import AMIS

INSTANCE_TYPE = "t3.micro"
# One of the Amazon images moto registers in every region (listing them all costs
# seconds per region: DescribeImages answers with about 1,300).
DEFAULT_IMAGE_ID: str = AMIS[0]["ami_id"]


def run_instance(ec2: Any, name: str, tags: dict[str, str]) -> str:
    """Launch one running instance in the region's default VPC; its id."""
    tag_list = [{"Key": "Name", "Value": name}]
    tag_list += [{"Key": key, "Value": value} for key, value in tags.items()]
    reservation = ec2.run_instances(
        ImageId=DEFAULT_IMAGE_ID,
        InstanceType=INSTANCE_TYPE,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tag_list}],
    )
    instance_id: str = reservation["Instances"][0]["InstanceId"]
    return instance_id


def create_health_check(
    route53: Any, name: str, instance_id: str, http_port: int
) -> str:
    """An HTTP health check on 127.0.0.1:``http_port``, tagged with the instance."""
    created = route53.create_health_check(
        CallerReference=f"firstline-sandbox-{uuid.uuid4()}",
        HealthCheckConfig={
            "IPAddress": "127.0.0.1",
            "Port": http_port,
            "Type": "HTTP",
            "ResourcePath": "/",
            "RequestInterval": 10,
            "FailureThreshold": 1,
        },
    )
    health_check_id: str = created["HealthCheck"]["Id"]
    route53.change_tags_for_resource(
        ResourceType="healthcheck",
        ResourceId=health_check_id,
        AddTags=[
            {"Key": "Name", "Value": name},
            {"Key": "firstline:instance-id", "Value": instance_id},
        ],
    )
    return health_check_id
