#!/usr/bin/env bash
# Runs every Showroom test. Installs what is missing first (deploy/install.sh), so a brand-new
# machine passes too. Each test starts its own real nats-server, redis-server and Postgres on
# free loopback ports and tears them down.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

# A one-off build gains nothing from incremental caches (4 GB on a clean CI build).
[ "${CI:-}" = "true" ] && export CARGO_INCREMENTAL=0

step "installing what is missing"
deploy/install.sh

step "formatting"
cargo fmt --all -- --check

step "browser code"
# The console's ES modules and the widget: tsc (JSDoc types), ESLint, console.html's module
# links, and the widget's 30 KB gzipped budget.
deploy/check-js.sh

step "Kubernetes manifests"
k8s/validate.sh

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "container images"
# The eight images (deploy/image.sh: the binaries built here, on a Debian base made here), their
# filesystems mounted for libs/testkit/tests/e2e/images.rs, which starts each image's binary from
# them. Unmounted when this script ends, however it ends.
trap 'deploy/image.sh --unmount >/dev/null 2>&1 || true' EXIT
deploy/image.sh

step "tests"
profile=default
[ "${CI:-}" = "true" ] && profile=ci
# The SMTP catcher's own test needs maildev, which install.sh put in deploy/node_modules.
export SHOWROOM_MAILDEV_DIR="$PWD/deploy"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --profile "$profile" --run-ignored all
else
  cargo test --workspace --locked -- --include-ignored
fi
