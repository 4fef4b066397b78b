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

# The benchmark measures Chaos Toolkit side by side (PyPI's chaostoolkit, in a venv of
# its own where `pgchaos bench` looks for it).
if [ ! -x /opt/pgchaos-ctk/bin/chaos ]; then
  echo "scripts/test.sh: installing Chaos Toolkit into /opt/pgchaos-ctk" >&2
  python3 -m venv /opt/pgchaos-ctk
  /opt/pgchaos-ctk/bin/pip install --quiet chaostoolkit
fi

# A lab left over by an earlier, interrupted run is recognised and cleaned by the tests
# themselves (`lab up` cleans stale labs). The lab is brought down when the suite ends,
# quietly, so that cargo's own summary stays the last thing printed.
# The compiler and the linters hold the line before any test runs: formatting, every
# clippy warning, and the crate's [lints] (unreachable_pub, dead_code).
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings

status=0
# The suites that need no lab first (seconds), so a broken parser or reporter shows at
# once; then everything, the lab suites included (the fast ones again, a few seconds).
if [ $# -eq 0 ]; then
  cargo test --no-fail-fast --quiet --lib --test validate --test fuzz_parsers --test report \
    || status=$?
fi
cargo test --no-fail-fast "$@" || status=$?
if [ -x target/debug/pgchaos ]; then
  target/debug/pgchaos lab down >/dev/null 2>&1 || true
fi
exit "$status"
