#!/usr/bin/env bash
# Builds Showroom's eight container images, the seven services and showroom-migrate, with podman
# (`podman build --isolation chroot`: no container engine and no registry needed), on bases made
# here from Debian's mirror.
#
#   deploy/image.sh             the binaries `cargo build` made (target/debug; built first, with
#                               the tests, as the test command builds them),
#                               each copied onto the runtime base (deploy/Dockerfile.prebuilt):
#                               localhost/showroom-<service>:dev
#   deploy/image.sh --release   the production build: deploy/Dockerfile's multi-stage build,
#                               compiled in the image (15 to 30 minutes on 2 cores; its cache
#                               mounts are removed after, so every --release compiles it all):
#                               ghcr.io/showroom/showroom-<service>:<workspace version>
#
# Options:
#   --profile NAME   the cargo profile of the binaries (default dev, in target/debug)
#   --bin-dir DIR    the binaries are in DIR (build nothing)
#   --no-build       do not run `cargo build` first (the binaries must be there)
#   --unmount        unmount the images' filesystems, remove the manifest, and exit
#   --remove         remove the images, the bases and the base cache, and exit
#
# Each image's filesystem is then mounted read-only (`podman image mount`) and
# target/images/manifest.json lists, per image, where: libs/testkit/tests/e2e/images.rs starts every
# binary from there (chroot, as the image's user) against real servers. `--unmount` undoes the
# mounts (deploy/test.sh does when it ends).
#
# The bases are made once and kept (in podman's storage, and as tarballs in
# $SHOWROOM_IMAGE_CACHE, default /var/cache/showroom):
#   localhost/showroom-base:bookworm        the runtime base, in place of
#       gcr.io/distroless/cc-debian12:nonroot: only the files of base-files, netbase, tzdata,
#       ca-certificates (and its bundle), libc6, libgcc-s1, libstdc++6, libgomp1 and libssl3
#       from a `debootstrap --variant=minbase bookworm`, users root, nobody and nonroot; no shell.
#   localhost/showroom-debian:bookworm      (--release) that whole minbase system
#   localhost/showroom-rust:1.95-bookworm   (--release) rust:1.95-bookworm's stand-in, on it
#       (deploy/Dockerfile.builder; 1 GB; it trusts the CAs the host added in
#       /usr/local/share/ca-certificates, for a TLS-inspecting proxy)
# Debian's mirror is $SHOWROOM_DEBIAN_MIRROR (default http://deb.debian.org/debian).
#
# Needs root, podman and debootstrap (deploy/install.sh installs them).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

SERVICES=(gateway presence router bot lead-capture notification crm-export migrate)
BASE=localhost/showroom-base:bookworm
DEBIAN=localhost/showroom-debian:bookworm
BUILDER=localhost/showroom-rust:1.95-bookworm
# What the runtime base holds: distroless cc-debian12's packages.
RUNTIME_PACKAGES=(base-files netbase tzdata ca-certificates libc6 libgcc-s1 libstdc++6 libgomp1 libssl3)
# Changes when the base's recipe does (then the bases are made again); bump `v` when the way
# they are made changes.
RECIPE="$(printf 'v1 bookworm minbase %s\n' "${RUNTIME_PACKAGES[*]}" | sha256sum | cut -c1-12)"

cache="${SHOWROOM_IMAGE_CACHE:-/var/cache/showroom}"
mirror="${SHOWROOM_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
out_dir="$target_dir/images"
manifest="$out_dir/manifest.json"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"

# shellcheck source=deploy/lib.sh
source "$repo/deploy/lib.sh"

# Work directories removed however the script ends.
scratch=()
cleanup() {
  local d
  for d in "${scratch[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT

mode=prebuilt
profile=dev
bin_dir=""
build=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --release) mode=release ;;
    --profile)
      [ $# -ge 2 ] || fail "--profile needs a name"
      profile="$2"
      shift
      ;;
    --bin-dir)
      [ $# -ge 2 ] || fail "--bin-dir needs a directory"
      bin_dir="$(cd "$2" && pwd)" || fail "no directory $2"
      build=no
      shift
      ;;
    --no-build) build=no ;;
    --unmount) mode=unmount ;;
    --remove) mode=remove ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
  shift
done

[ "$(id -u)" -eq 0 ] || fail "run as root: podman's chroot builds, image mounts and debootstrap need it"
command -v podman >/dev/null 2>&1 || fail "podman not found: run deploy/install.sh"

prebuilt_image() { echo "localhost/showroom-$1:dev"; }
release_image() { echo "ghcr.io/showroom/showroom-$1:$version"; }

# Unmounts every image of ours (both kinds), however often it was mounted.
unmount_all() {
  local s
  for s in "${SERVICES[@]}"; do
    podman image unmount --force "$(prebuilt_image "$s")" >/dev/null 2>&1 || true
    podman image unmount --force "$(release_image "$s")" >/dev/null 2>&1 || true
  done
  rm -f "$manifest"
}

# Old images of ours that a new build untagged (and intermediate images of a --release build),
# found by the labels they inherit from the bases.
prune_ours() {
  quietly podman image prune --force --filter label=showroom.base.recipe
  quietly podman image prune --force --filter label=showroom.builder.recipe
}

case "$mode" in
  unmount)
    unmount_all
    say "unmounted the images"
    exit 0
    ;;
  remove)
    unmount_all
    for s in "${SERVICES[@]}"; do
      podman rmi --force "$(prebuilt_image "$s")" "$(release_image "$s")" >/dev/null 2>&1 || true
    done
    podman rmi --force "$BUILDER" "$DEBIAN" "$BASE" >/dev/null 2>&1 || true
    prune_ours
    rm -rf "$cache"/showroom-*-bookworm-*.tar* "$out_dir"
    say "removed the images, the bases and $cache's tarballs"
    exit 0
    ;;
esac

started=$SECONDS

# --- the bases ---------------------------------------------------------------------------------

# The value of `label` on `image`, empty when there is no such image.
label_of() {
  podman image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

runtime_tar="$cache/showroom-base-bookworm-$RECIPE.tar"
debian_tar="$cache/showroom-debian-bookworm-$RECIPE.tar.gz"

# Copies out of the minbase system in $1 into $2 what the runtime base holds: the files of
# RUNTIME_PACKAGES (without manual pages and changelogs), the CA bundle, nsswitch.conf, and the
# users of distroless's :nonroot (root, nobody, nonroot 65532).
carve_runtime() {
  local root="$1" out="$2" arch p list
  arch="$(chroot "$root" dpkg --print-architecture)"
  mkdir -p "$out/usr/bin" "$out/usr/sbin" "$out/usr/lib" "$out/usr/lib64"
  for p in bin sbin lib lib64; do ln -s "usr/$p" "$out/$p"; done
  list="$(mktemp)"
  for p in "${RUNTIME_PACKAGES[@]}"; do
    if [ -f "$root/var/lib/dpkg/info/$p.list" ]; then
      cat "$root/var/lib/dpkg/info/$p.list"
    elif [ -f "$root/var/lib/dpkg/info/$p:$arch.list" ]; then
      cat "$root/var/lib/dpkg/info/$p:$arch.list"
    else
      fail "package $p is not in the debootstrap system"
    fi
  done | sed 's|^/||' |
    grep -v -E '^(\.|usr/share/(man|info|lintian|bug|doc/[^/]+/(changelog|NEWS|README)[^/]*))(/|$)' |
    sort -u >"$list"
  # Through the merged-/usr links both sides: lib/x86_64-linux-gnu/... lands in usr/lib.
  (cd "$root" && tar --no-recursion -cf - -T "$list") | tar -C "$out" -xf - --keep-directory-symlink
  rm -f "$list"
  (cd "$root" && tar -cf - etc/ssl/certs etc/nsswitch.conf) | tar -C "$out" -xf -
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
    'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$out/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$out/etc/group"
  mkdir -p "$out/home/nonroot" "$out/tmp" "$out/root"
  chown 65532:65532 "$out/home/nonroot"
  chmod 1777 "$out/tmp"
  chmod 700 "$out/root"
  [ -x "$out/lib64/ld-linux-x86-64.so.2" ] && [ -f "$out/etc/ssl/certs/ca-certificates.crt" ] ||
    fail "the runtime base lacks the dynamic loader or the CA bundle"
}

# Makes the cached tarballs ($1: runtime or debian) from a fresh debootstrap.
debootstrap_tarball() {
  command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] ||
    fail "debootstrap not found: run deploy/install.sh"
  mkdir -p "$cache"
  local work t0=$SECONDS include
  work="$(mktemp -d "$cache/debootstrap.XXXXXX")"
  scratch+=("$work")
  include="$(
    IFS=,
    echo "${RUNTIME_PACKAGES[*]}"
  )"
  say "making the base: debootstrap --variant=minbase bookworm from $mirror"
  quietly env PATH="$PATH:/usr/sbin:/sbin" debootstrap --variant=minbase --include="$include" \
    bookworm "$work/root" "$mirror"
  case "$1" in
    runtime)
      carve_runtime "$work/root" "$work/runtime"
      tar -C "$work/runtime" -cf "$runtime_tar.tmp" .
      mv "$runtime_tar.tmp" "$runtime_tar"
      ;;
    debian)
      rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
      tar -C "$work/root" -czf "$debian_tar.tmp" .
      mv "$debian_tar.tmp" "$debian_tar"
      ;;
  esac
  rm -rf "$work"
  say "debootstrap and $1 tarball took $((SECONDS - t0)) s"
}

# Imports tarball $2 as image $1 (labelled with the recipe) unless it is there already.
ensure_imported() {
  local image="$1" tarball="$2" kind="$3" old
  shift 3
  [ "$(label_of "$image" showroom.base.recipe)" = "$RECIPE" ] && return 0
  [ -f "$tarball" ] || debootstrap_tarball "$kind"
  old="$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
  quietly podman import --change "LABEL showroom.base.recipe=$RECIPE" "$@" "$tarball" "$image"
  [ -z "$old" ] || podman rmi "$old" >/dev/null 2>&1 || true
  say "imported $image ($(podman image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

ensure_base() {
  # As distroless's :nonroot is configured.
  ensure_imported "$BASE" "$runtime_tar" runtime \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'USER 65532:65532' --change 'WORKDIR /home/nonroot'
}

ensure_builder() {
  local want ctx="$out_dir/builder-context"
  # Its context: the CAs the host added to its trust (a TLS-inspecting proxy's, say), which the
  # builder then trusts too (rustup and cargo fetch over HTTPS).
  rm -rf "$ctx"
  mkdir -p "$ctx/ca-certificates"
  scratch+=("$ctx")
  find /usr/local/share/ca-certificates -name '*.crt' -type f -exec cp {} "$ctx/ca-certificates/" \; 2>/dev/null || true
  touch "$ctx/ca-certificates/.keep"
  want="$RECIPE-$(cat deploy/Dockerfile.builder "$ctx"/ca-certificates/* | sha256sum | cut -c1-12)"
  [ "$(label_of "$BUILDER" showroom.builder.recipe)" = "$want" ] && return 0
  ensure_imported "$DEBIAN" "$debian_tar" debian \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  local t0=$SECONDS
  say "making $BUILDER (deploy/Dockerfile.builder: gcc, rustup, Rust 1.95.0)"
  quietly podman build --isolation chroot --pull=never --layers=false \
    -f deploy/Dockerfile.builder --build-arg DEBIAN_BASE="$DEBIAN" \
    --label "showroom.builder.recipe=$want" -t "$BUILDER" "$ctx"
  prune_ours
  say "made $BUILDER in $((SECONDS - t0)) s"
}

# --- the images ----------------------------------------------------------------------------------

unmount_all
mkdir -p "$out_dir"
ensure_base

images=()
if [ "$mode" = prebuilt ]; then
  if [ -z "$bin_dir" ]; then
    case "$profile" in
      dev | test) bin_dir="$target_dir/debug" ;;
      release | bench) bin_dir="$target_dir/release" ;;
      *) bin_dir="$target_dir/$profile" ;;
    esac
  fi
  if [ "$build" = yes ]; then
    # --all-targets: the build the test command makes next (features unified with the
    # dev-dependencies'), so nothing is compiled twice; `--bins` alone would build 45 crates
    # (sqlx, axum, reqwest, ours...) a second time with other features.
    say "cargo build --locked --workspace --all-targets --profile $profile"
    cargo build --locked --workspace --all-targets --profile "$profile" --quiet
  fi
  for s in "${SERVICES[@]}"; do
    [ -x "$bin_dir/showroom-$s" ] ||
      fail "no $bin_dir/showroom-$s: build the binaries first (cargo build --workspace --all-targets)"
  done
  # A small context: hard links to the binaries (no copies), and the gateway's pages.
  ctx="$out_dir/context"
  rm -rf "$ctx"
  mkdir -p "$ctx"
  scratch+=("$ctx")
  for s in "${SERVICES[@]}"; do
    ln "$bin_dir/showroom-$s" "$ctx/" 2>/dev/null || cp "$bin_dir/showroom-$s" "$ctx/"
  done
  cp -r services/gateway/assets "$ctx/assets"
  for s in "${SERVICES[@]}"; do
    image="$(prebuilt_image "$s")"
    quietly podman build --isolation chroot --pull=never --layers=false \
      -f deploy/Dockerfile.prebuilt --build-arg RUNTIME_BASE="$BASE" --build-arg SERVICE="$s" \
      -t "$image" "$ctx"
    images+=("$image")
  done
else
  ensure_builder
  log="$out_dir/release-build.log"
  say "building deploy/Dockerfile for real (log: $log)"
  : >"$log"
  for s in "${SERVICES[@]}"; do
    image="$(release_image "$s")"
    t0=$SECONDS
    if ! podman build --isolation chroot --pull=never --layers \
      --ignorefile deploy/Dockerfile.dockerignore -f deploy/Dockerfile \
      --build-arg BUILD_BASE="$BUILDER" --build-arg RUNTIME_BASE="$BASE" \
      --build-arg SERVICE="$s" -t "$image" . >>"$log" 2>&1; then
      tail -n 40 "$log" >&2
      fail "building $image failed (the end of $log is above)"
    fi
    say "built $image in $((SECONDS - t0)) s"
    images+=("$image")
  done
  # The build's cache mounts (cargo's registry and target dir, 1.5 GB or more): space matters
  # more here than a quicker next --release.
  for d in "${TMPDIR:-/var/tmp}"/buildah-cache*/showroom-cargo-registry "${TMPDIR:-/var/tmp}"/buildah-cache*/showroom-target; do
    if [ -d "$d" ]; then rm -rf "$d"; fi
  done
fi
prune_ours

# --- mounted, listed -----------------------------------------------------------------------------

{
  printf '{\n  "mode": "%s",\n  "images": [' "$mode"
  sep=""
  for i in "${!SERVICES[@]}"; do
    s="${SERVICES[$i]}"
    image="${images[$i]}"
    rootfs="$(podman image mount "$image")"
    [ -x "$rootfs/usr/local/bin/showroom-$s" ] || fail "$image has no /usr/local/bin/showroom-$s"
    id="$(podman image inspect --format '{{.Id}}' "$image")"
    user="$(podman image inspect --format '{{.Config.User}}' "$image")"
    env="$(podman image inspect --format '{{json .Config.Env}}' "$image")"
    printf '%s\n    {"service": "%s", "image": "%s", "id": "%s", "user": "%s", "env": %s, "binary": "/usr/local/bin/showroom-%s", "rootfs": "%s"}' \
      "$sep" "$s" "$image" "$id" "$user" "$env" "$s" "$rootfs"
    sep=","
  done
  printf '\n  ]\n}\n'
} >"$manifest.tmp"
mv "$manifest.tmp" "$manifest"

podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' |
  grep -E "^(localhost/showroom-|ghcr.io/showroom/)" | sed 's/^/  /'
say "built ${#images[@]} images in $((SECONDS - started)) s; their filesystems are mounted, listed in ${manifest#"$repo"/}"
