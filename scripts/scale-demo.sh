#!/usr/bin/env bash
# The demo in scale mode: a PostgreSQL of its own (Debian's, on 127.0.0.1 and a
# free port, owned by the postgres system user when run as root), a Prefect server
# on it, and two runner processes serving the deployment; the same alarms and the
# same table. Everything it starts is stopped at the end, Ctrl-C included.
#
#   scripts/scale-demo.sh [--json] [--keep]
set -euo pipefail

cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo "scale-demo: PostgreSQL is not installed; run 'make system-deps' first" >&2
  exit 2
fi

export DO_NOT_TRACK=1
export PREFECT_SERVER_ANALYTICS_ENABLED=false
exec "$PY" -m firstline.demo --scale "$@"
