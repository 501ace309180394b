"""The CDK app's entry point: ``cdk synth`` runs ``python3 app.py`` in infra/."""

from __future__ import annotations

import sys
from pathlib import Path

# Python puts this file's folder first on the path, where the modules of infra/
# would shadow top-level ones; the repository root goes there instead, so that
# both ``firstline`` and ``infra`` import as packages.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from infra.build import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
