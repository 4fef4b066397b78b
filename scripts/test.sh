#!/usr/bin/env bash
# The whole test suite: unit tests, the malformed-input corpus, the real lab (Patroni,
# PostgreSQL, etcd, HAProxy, sshd in network namespaces), the engine and the seed matrix
# against it, and the reports checked as a person would (xmllint, headless Chromium).
#
# Needs root (the lab creates network namespaces) on Debian or Ubuntu. Installs what is
# missing with apt-get; `pgchaos lab up` installs the lab's own packages.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "scripts/test.sh: the lab tests need root (network namespaces); run it with sudo" >&2
  exit 2
fi

need=()
command -v xmllint >/dev/null || need+=(libxml2-utils)
command -v chromium >/dev/null || need+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v ssh >/dev/null || need+=(openssh-client)
command -v pgbench >/dev/null || need+=(postgresql-client-15)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  echo "scripts/test.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# A lab left over by an earlier, interrupted run is recognised and cleaned by the tests
# themselves (`lab up` cleans stale labs). The lab is brought down when the suite ends,
# quietly, so that cargo's own summary stays the last thing printed.
status=0
cargo test --no-fail-fast "$@" || status=$?
if [ -x target/debug/pgchaos ]; then
  target/debug/pgchaos lab down >/dev/null 2>&1 || true
fi
exit "$status"
