"""firstline's flows."""
