#!/usr/bin/env bash
# Runs the whole Showroom system on this machine: installs what is missing, builds every binary
# (debug), then hands over to the launcher (deploy/dev, `showroom-dev`), which starts NATS,
# Redis, PostgreSQL (data in .dev/pg) and maildev on loopback, migrates, seeds the demo group,
# starts the seven services and prints where everything is. Ctrl-C stops everything.
#
# Runs from any directory. Environment: SHOWROOM_HTTP_ADDR (default 127.0.0.1:8080) moves the
# gateway; RUST_LOG (default info) sets the services' log level.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

deploy/install.sh

# nats-server is in /usr/sbin on Debian, which a normal user's PATH lacks.
case ":$PATH:" in
  *:/usr/sbin:*) ;;
  *) export PATH="$PATH:/usr/sbin" ;;
esac

cargo build --bins

exec "${CARGO_TARGET_DIR:-target}/debug/showroom-dev"
