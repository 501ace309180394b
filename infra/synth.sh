#!/usr/bin/env bash
# Synthesize every firstline stack into infra/cdk.out without AWS credentials.
#
# Installs the pinned CDK command line (package-lock.json) into infra/node_modules
# the first time, then runs `cdk synth` with lookups, notices, telemetry and the
# version check off: nothing but the npm registry (first run only) is contacted.
# Extra arguments go to `cdk synth`, e.g. `-c fleet=../my-fleet.yaml`.
# FIRSTLINE_CDK_OUT overrides the output folder; FIRSTLINE_PREFECT_API_URL the
# placeholder Prefect API address written into the relay's settings.
set -euo pipefail

infra_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$infra_dir")"
out_dir="${FIRSTLINE_CDK_OUT:-$infra_dir/cdk.out}"
cd "$infra_dir"

export CDK_DISABLE_CLI_TELEMETRY=true
export CDK_DISABLE_VERSION_CHECK=1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION=1
# cdk.json runs `python3 app.py`: the repository's virtualenv, when there is one.
if [[ -x "$repo_dir/.venv/bin/python3" ]]; then
    export PATH="$repo_dir/.venv/bin:$PATH"
fi

if [[ ! -x node_modules/.bin/cdk ]]; then
    npm ci --no-audit --no-fund --loglevel=error
fi

# Without a placeholder the app refuses to run; a deploy must name the real API.
placeholder_url="https://prefect.example.invalid/api"
rm -rf "$out_dir"
node_modules/.bin/cdk synth \
    --no-notices --no-lookups --no-version-reporting --quiet \
    --output "$out_dir" \
    --context "prefect_api_url=${FIRSTLINE_PREFECT_API_URL:-$placeholder_url}" \
    "$@"

echo "templates written to $out_dir:"
ls "$out_dir"/*.template.json
