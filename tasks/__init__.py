"""Prefect tasks, one external system per module."""
