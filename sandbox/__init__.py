"""A local AWS region on 127.0.0.1 for firstline's tests, demo and benchmarks.

:class:`Sandbox` runs a moto server (EC2, Route 53, CloudWatch, Secrets Manager,
STS) for an account of its own, and gives each instance a real web server and
SSH port whose faults can be switched: see :class:`Fault` and :class:`AfterReboot`.
"""

from sandbox.faults import AfterReboot, ApiCall, Fault, RebootRecord
from sandbox.httpd import InstanceHttpServer
from sandbox.instance import SandboxInstance
from sandbox.paramiko_sshd import PythonSshServer
from sandbox.region import Sandbox
from sandbox.ssh_endpoint import InstanceSshEndpoint
from sandbox.sshd import OpenSshServer, sshd_available
from sandbox.tcp import BannerThenSilenceServer, SilentTcpServer

__all__ = [
    "AfterReboot",
    "ApiCall",
    "BannerThenSilenceServer",
    "Fault",
    "InstanceHttpServer",
    "InstanceSshEndpoint",
    "OpenSshServer",
    "PythonSshServer",
    "RebootRecord",
    "Sandbox",
    "SandboxInstance",
    "SilentTcpServer",
    "sshd_available",
]
