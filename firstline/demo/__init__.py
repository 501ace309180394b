"""The demo: firstline's whole path, alarm to verdict, on one machine.

``python -m firstline.demo`` runs it; see ``firstline.demo.run``.
"""
