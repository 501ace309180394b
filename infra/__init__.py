"""firstline's AWS infrastructure: the CDK app and the alarm relay Lambda.

The relay's Lambda bundle may import this package (handler path
``infra.relay.handler.handler``), so this file must stay free of imports.
"""
