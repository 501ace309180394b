"""firstline: a first line of support for EC2 fleets, orchestrated by Prefect."""

__version__ = "0.1.0"
