#!/usr/bin/env bash
# Install the system programs the tests and the demo use, when they are missing:
# OpenSSH's sshd (real SSH endpoints), Chromium (the UI test) and PostgreSQL (scale
# mode). Debian/Ubuntu only; needs root or sudo. Nothing is started here.
set -euo pipefail

missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
# Debian starts services it installs where it can; firstline starts its own, on
# 127.0.0.1 and on ports of its own, so stop the packaged ones again.
for service in ssh postgresql; do
  $sudo service "$service" stop >/dev/null 2>&1 || true
done
