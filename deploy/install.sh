#!/usr/bin/env bash
# Installs what the local dev stack (deploy/dev.sh) and the tests (deploy/test.sh) need, when it
# is missing: nats-server, redis-server, PostgreSQL's server programs, xmllint, Chromium,
# Prometheus (the program only: its system service is neither started nor enabled), and podman
# and debootstrap, which deploy/image.sh builds the container images with (apt-get),
# PgBouncer 1.21 or newer (built from Debian's source when Debian's is older),
# maildev, the SMTP catcher, playwright-core, and TypeScript and ESLint, which check the browser
# JavaScript (deploy/check-js.sh) (npm, into deploy/node_modules), and nats-py
# (pip, into .venv-py), which the documented integrator example (docs/examples) uses, and
# schemathesis (pip, into deploy/.venv-schemathesis), which the schema-fuzzing test
# (libs/testkit/tests/e2e/fuzz.rs) runs against the test stack's OpenAPI document.
# Node.js and npm must already be there.
#
# Idempotent and quiet: it prints one line per thing it installed and nothing when all is
# present (then it takes well under a second). Runs from any directory.
#
# maildev is pinned in deploy/package.json. 2.2.1 rather than the newest (3.0.0): 3.0.0's
# dependencies (mailparser 3.14.2 -> @zone-eu/mailsplit 5.4.30, encoding-japanese 2.5.0) do not
# resolve from the npm registry this project uses. 2.2.1 is what showroom-localinfra's
# SmtpCatcher drives (bin/maildev, --smtp/--web/--ip/--mail-directory, GET /email).
set -euo pipefail

deploy_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# shellcheck source=deploy/lib.sh
source "$deploy_dir/lib.sh"

# Root runs apt-get directly; anyone else through sudo, when there is one.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    fail "installing needs root: run this script as root or install sudo (wanted: $*)"
  fi
}

apt_updated=no
apt_install() {
  command -v apt-get >/dev/null 2>&1 ||
    fail "apt-get not found: install $* with your system's package manager"
  if [ "$apt_updated" = no ]; then
    quietly as_root apt-get update -qq
    apt_updated=yes
  fi
  quietly as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@"
}

# `command -v` plus /usr/sbin, which is not on a normal user's PATH on Debian (nats-server
# lives there).
have() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]
}

# --- nats-server, redis-server ---------------------------------------------------------------
for program in nats-server redis-server; do
  if ! have "$program"; then
    apt_install "$program"
    say "installed $program (apt-get install $program)"
  fi
done

# --- PostgreSQL server programs: initdb and postgres, on PATH or in /usr/lib/postgresql/*/bin
have_postgres() {
  if command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; then
    return 0
  fi
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then
      return 0
    fi
  done
  return 1
}

if ! have_postgres; then
  # The package's post-install would create and start a system cluster on port 5432, which the
  # dev stack does not use (it runs its own server on a free port): turn that off first.
  apt_install postgresql-common
  conf=/etc/postgresql-common/createcluster.conf
  if [ -f "$conf" ]; then
    as_root sed -i -E 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*/create_main_cluster = false/' "$conf"
  fi
  if apt-cache show postgresql-15 >/dev/null 2>&1; then
    apt_install postgresql-15
    say "installed PostgreSQL 15 (apt-get install postgresql-15)"
  else
    apt_install postgresql
    say "installed PostgreSQL (apt-get install postgresql; postgresql-15 is not in this distribution)"
  fi
  have_postgres || fail "PostgreSQL was installed but initdb/postgres are still not found"
fi

# --- xmllint, which the CRM export tests validate ADF e-mails with (against the DTD) --------
if ! have xmllint; then
  apt_install libxml2-utils
  say "installed xmllint (apt-get install libxml2-utils)"
fi

# --- OpenSSL's headers and pkg-config: webauthn-rs (passkeys, libs/rest/src/mfa.rs) links
# OpenSSL through openssl-sys, which finds it with pkg-config. The runtime images ship libssl3.
# make: tikv-jemalloc-sys builds jemalloc, the gateway's allocator, with it.
missing=()
for pkg in libssl-dev pkg-config make; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt_install "${missing[@]}"
  say "installed ${missing[*]} (apt-get install ${missing[*]})"
fi

# --- PgBouncer >= 1.21, which the tests run the whole chat through (transaction mode) ---------
# sqlx prepares named statements on the extended protocol, and PgBouncer tracks those per client
# only from 1.21 (max_prepared_statements). Debian 12's package is 1.18, so when the pgbouncer
# found is older, or missing, this builds Debian 13's source of the package (checksum pinned)
# into /usr/local: about 30 s on 2 cores.
PGBOUNCER_VERSION="1.24.1"
PGBOUNCER_SHA256="da72a3aba13072876d055a3e58dd4aba4a5de4ed6148e73033185245598fd3e0"
pgbouncer_version() {
  local bin
  bin="$(command -v pgbouncer 2>/dev/null || echo /usr/sbin/pgbouncer)"
  [ -x "$bin" ] && "$bin" --version 2>/dev/null | awk 'NR == 1 { print $2 }'
}
have_pgbouncer() {
  local v
  v="$(pgbouncer_version || true)"
  [ -n "$v" ] && [ "$(printf '%s\n1.21\n' "$v" | sort -V | head -n 1)" = "1.21" ]
}
if ! have_pgbouncer; then
  missing=()
  for pkg in gcc make pkg-config libevent-dev libssl-dev curl ca-certificates; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"
  build="$(mktemp -d)"
  tarball="$build/pgbouncer_$PGBOUNCER_VERSION.orig.tar.gz"
  quietly curl -fsSL --retry 3 -o "$tarball" \
    "http://deb.debian.org/debian/pool/main/p/pgbouncer/pgbouncer_$PGBOUNCER_VERSION.orig.tar.gz"
  echo "$PGBOUNCER_SHA256  $tarball" | sha256sum -c --quiet - ||
    fail "pgbouncer_$PGBOUNCER_VERSION.orig.tar.gz does not have the pinned checksum"
  tar -xzf "$tarball" -C "$build"
  (
    cd "$build/pgbouncer-$PGBOUNCER_VERSION"
    quietly ./configure --prefix=/usr/local --without-cares --without-pam --without-systemd
    quietly make -j2
    quietly as_root make install
  )
  rm -rf "$build"
  hash -r
  have_pgbouncer || fail "PgBouncer $PGBOUNCER_VERSION was built, but \`pgbouncer --version\` says $(pgbouncer_version || echo nothing)"
  say "installed PgBouncer $PGBOUNCER_VERSION (built from Debian's source into /usr/local)"
fi

# --- Chromium, for the browser tests (driven by playwright-core, never a downloaded browser) --
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
  say "installed chromium (apt-get install chromium)"
fi

# --- podman and debootstrap, for the container images (deploy/image.sh) ---------------------------
for program in podman debootstrap; do
  if ! have "$program"; then
    apt_install "$program"
    say "installed $program (apt-get install $program)"
  fi
done

# --- Prometheus (Debian's package), the program a test scrapes the services' /metrics with -----
# The test starts its own on a free port. The package would also start a system service on :9090
# and enable it at boot: a policy-rc.d refuses every start while it installs (unless the machine
# has one already, as Docker images do), and what was enabled or started anyway is undone after.
stop_system_prometheus() {
  if command -v systemctl >/dev/null 2>&1; then
    as_root systemctl disable prometheus >/dev/null 2>&1 || true
    [ -d /run/systemd/system ] && as_root systemctl stop prometheus >/dev/null 2>&1 || true
  fi
  if command -v update-rc.d >/dev/null 2>&1 && [ -e /etc/init.d/prometheus ]; then
    as_root update-rc.d prometheus disable >/dev/null 2>&1 || true
    command -v service >/dev/null 2>&1 && as_root service prometheus stop >/dev/null 2>&1 || true
  fi
  # Still a prometheus of the package's user listening on 9090: that one, by its pid.
  local pid
  for pid in $(pgrep -u prometheus -x prometheus 2>/dev/null || true); do
    as_root kill "$pid" 2>/dev/null || true
  done
}
if ! have prometheus; then
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# deploy/install.sh: no service starts while it installs prometheus.\nexit 101\n' |
      as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    trap 'as_root rm -f "$policy"' EXIT
    apt_install prometheus
    as_root rm -f "$policy"
    trap - EXIT
  else
    apt_install prometheus
  fi
  stop_system_prometheus
  have prometheus || fail "prometheus was installed but is still not found"
  say "installed prometheus (apt-get install prometheus; its system service is not running)"
fi

# --- Node.js, npm, maildev, playwright-core, TypeScript, ESLint -------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  fail "Node.js and npm are required (for maildev, the SMTP catcher) but $(
    command -v node >/dev/null 2>&1 && echo "npm is" || echo "node is"
  ) not on PATH: install them (Debian: apt-get install nodejs npm) and run this again"
fi

# npm writes node_modules/.package-lock.json last, so it stands for "installed from this lock".
installed_marker="$deploy_dir/node_modules/.package-lock.json"
if [ ! -f "$installed_marker" ] ||
  [ "$deploy_dir/package-lock.json" -nt "$installed_marker" ] ||
  [ ! -f "$deploy_dir/node_modules/maildev/bin/maildev" ] ||
  [ ! -f "$deploy_dir/node_modules/playwright-core/package.json" ] ||
  [ ! -f "$deploy_dir/node_modules/typescript/package.json" ] ||
  [ ! -f "$deploy_dir/node_modules/eslint/package.json" ] ||
  [ ! -f "$deploy_dir/node_modules/oidc-provider/package.json" ]; then
  # The registry answers now and then with a transient error (a reset, a 5xx) that made a whole
  # CI run fail in seconds: try three times, 5 s then 20 s apart, before giving up with npm's
  # own words.
  npm_out="$(mktemp)"
  for attempt in 1 2 3; do
    if npm ci --prefix "$deploy_dir" --no-audit --no-fund --loglevel=error >"$npm_out" 2>&1; then
      break
    fi
    if [ "$attempt" -eq 3 ]; then
      cat "$npm_out" >&2
      rm -f "$npm_out"
      fail "\`npm ci --prefix $deploy_dir\` failed three times (npm's output is above)"
    fi
    say "npm ci failed (attempt $attempt of 3), retrying: $(tail -n 3 "$npm_out" | tr '\n' ' ')"
    sleep $((attempt == 1 ? 5 : 20))
  done
  rm -f "$npm_out"
  version="$(node -p "require('$deploy_dir/node_modules/maildev/package.json').version" 2>/dev/null || echo '?')"
  say "installed maildev $version, playwright-core, oidc-provider, TypeScript and ESLint (npm ci --prefix deploy)"
fi

# --- nats-py, for the integrator example in docs/examples (its test runs it) ------------------
# Pinned; in a project-local virtualenv, like k8s/validate.sh's.
NATS_PY_VERSION="2.16.0"
venv="$(cd "$deploy_dir/.." && pwd)/.venv-py"
if [ ! -x "$venv/bin/python" ] ||
  [ "$("$venv/bin/python" -c 'import importlib.metadata as m; import nkeys; print(m.version("nats-py"))' 2>/dev/null || true)" != "$NATS_PY_VERSION" ]; then
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >/dev/null 2>&1 || { apt_install python3-venv; quietly python3 -m venv "$venv"; }
    echo '*' >"$venv/.gitignore"
  fi
  # A transient registry error must not fail a whole CI run: three tries, as for npm.
  for attempt in 1 2 3; do
    if "$venv/bin/python" -m pip install -q "nats-py[nkeys]==$NATS_PY_VERSION" >/dev/null 2>&1; then
      break
    fi
    [ "$attempt" -eq 3 ] && quietly "$venv/bin/python" -m pip install "nats-py[nkeys]==$NATS_PY_VERSION"
    sleep $((attempt == 1 ? 5 : 20))
  done
  say "installed nats-py $NATS_PY_VERSION (pip, into .venv-py)"
fi

# --- schemathesis, for the schema-fuzzing test (libs/testkit/tests/e2e/fuzz.rs) ------------------
# Pinned, in a virtualenv of its own (its dependencies are many and must not meet nats-py's);
# not committed (.gitignore). About 95 MB and 20 s; pip's cache is not kept. Needs Python 3.11 or
# newer (Debian 12 has 3.11).
SCHEMATHESIS_VERSION="4.32.5"
st_venv="$deploy_dir/.venv-schemathesis"
if [ ! -x "$st_venv/bin/st" ] ||
  [ "$("$st_venv/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true)" != "$SCHEMATHESIS_VERSION" ]; then
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  if [ ! -x "$st_venv/bin/python" ]; then
    python3 -m venv "$st_venv" >/dev/null 2>&1 || { apt_install python3-venv; quietly python3 -m venv "$st_venv"; }
  fi
  # A transient registry error must not fail a whole CI run: three tries, as for npm.
  for attempt in 1 2 3; do
    if "$st_venv/bin/python" -m pip install -q --no-cache-dir --disable-pip-version-check \
      "schemathesis==$SCHEMATHESIS_VERSION" >/dev/null 2>&1; then
      break
    fi
    if [ "$attempt" -eq 3 ]; then
      quietly "$st_venv/bin/python" -m pip install --no-cache-dir \
        --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
      break
    fi
    sleep $((attempt == 1 ? 5 : 20))
  done
  say "installed schemathesis $SCHEMATHESIS_VERSION (pip, into deploy/.venv-schemathesis)"
fi
