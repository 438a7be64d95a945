# Shared by the scripts in deploy/ (sourced, not run): messages prefixed with the script's name,
# and commands whose output is shown only when they fail.

me="$(basename "$0")"

say() { printf '%s: %s\n' "$me" "$*"; }
fail() {
  printf '%s: error: %s\n' "$me" "$*" >&2
  exit 1
}

# Runs "$@" with its output kept in a temp file, shown only when it fails.
quietly() {
  local out
  out="$(mktemp)"
  if ! "$@" >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    fail "\`$*\` failed (its output is above)"
  fi
  rm -f "$out"
}
