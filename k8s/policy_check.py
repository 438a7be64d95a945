#!/usr/bin/env python3
"""Showroom-specific checks on rendered manifests (run by k8s/validate.sh).

The Kubernetes schemas (kubernetes-validate) say whether each object is
well-formed; this says whether the set is what Showroom needs: every service
present, wired to the right ports, probes, config and Secrets, and locked down.

    policy_check.py [--profile base|overlay] [--secret-example FILE] RENDERED.yaml

--profile base also checks the replica counts and HPA bounds of the base (an
overlay may change those). Prints one line per failure and a final count line;
exits 1 on any failure. Needs PyYAML only.
"""

import argparse
import sys

import yaml

SERVICES = ["gateway", "presence", "router", "bot", "lead-capture", "notification", "crm-export"]
HTTP_SERVICES = {"gateway"}
REDIS_SERVICES = {"gateway", "presence"}
SCALED = {"gateway", "router"}  # HPA 2..10 on CPU 70%
# Every service runs 2 replicas in the base, each with a PodDisruptionBudget (maxUnavailable 1).
IMAGE_REPO = "ghcr.io/showroom/showroom-"
PART_OF = ("app.kubernetes.io/part-of", "showroom")
SHARED_CONFIG = {
    "SHOWROOM_NATS_URL": "nats://nats:4222",
    "SHOWROOM_ADMIN_ADDR": "0.0.0.0:9090",
    "RUST_LOG": "info",
    "SHOWROOM_RUN_MIGRATIONS": "false",
    "SHOWROOM_STREAM_REPLICAS": "3",
}  # exact values checked for the base; an overlay may change them
# name -> key that the manifests read; the Secrets themselves are not rendered.
SECRET_REFS = {
    ("showroom-database", "url"),
    ("showroom-gateway", "visitor-token-secret"),
    ("showroom-smtp", "url"),
    ("showroom-database-migrate", "url"),
}
# Mounted as files, not read through env: one per service (showroom-nats-<service>, key creds);
# the example file shows the gateway's.
MOUNTED_SECRET_EXAMPLES = {
    ("showroom-nats-gateway", "creds"),
    ("showroom-nats-issuer", "issuer.json"),
    ("showroom-nats-issuer", "system.creds"),
}


class Checker:
    def __init__(self):
        self.passed = 0
        self.failures = []

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failures.append(what)
        return ok


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def env_map(container):
    return {e["name"]: e for e in container.get("env", [])}


def secret_ref(env):
    ref = (env or {}).get("valueFrom", {}).get("secretKeyRef")
    return (ref["name"], ref["key"]) if ref else None


def cm_ref(env):
    ref = (env or {}).get("valueFrom", {}).get("configMapKeyRef")
    return (ref["name"], ref["key"]) if ref else None


def probe_get(probe):
    get = (probe or {}).get("httpGet") or {}
    return get.get("path"), get.get("port")


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_deployment(c, name, dep, profile, configmaps, tags):
    where = f"deployment/{name}"
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"].get("labels", {})
    c.check(selects(spec["selector"].get("matchLabels"), pod_labels),
            f"{where}: selector does not match the pod template labels")
    c.check(pod_labels.get(PART_OF[0]) == PART_OF[1], f"{where}: pod template lacks {PART_OF[0]}={PART_OF[1]}")
    if profile == "base":
        c.check(spec.get("replicas") == 2, f"{where}: replicas {spec.get('replicas')} != 2")

    c.check(pod.get("terminationGracePeriodSeconds") == 30, f"{where}: terminationGracePeriodSeconds != 30")
    psc = pod.get("securityContext", {})
    c.check(psc.get("runAsNonRoot") is True, f"{where}: pod runAsNonRoot is not true")
    c.check(psc.get("runAsUser") == 10001, f"{where}: pod runAsUser != 10001")
    c.check("fsGroup" in psc, f"{where}: pod fsGroup unset")
    c.check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{where}: pod seccompProfile != RuntimeDefault")

    containers = pod.get("containers", [])
    if not c.check(len(containers) == 1, f"{where}: expected exactly one container"):
        return
    ct = containers[0]
    binary = f"showroom-{name}"
    image = ct.get("image", "")
    repo, _, tag = image.rpartition(":")
    c.check(repo == IMAGE_REPO + name and tag, f"{where}: image {image!r} is not {IMAGE_REPO}{name}:<tag>")
    tags.add(tag)
    c.check(ct.get("command") == [f"/usr/local/bin/{binary}"], f"{where}: command is not /usr/local/bin/{binary}")

    ports = {p.get("name"): p.get("containerPort") for p in ct.get("ports", [])}
    want_ports = {"admin": 9090, **({"http": 8080} if name in HTTP_SERVICES else {})}
    c.check(ports == want_ports, f"{where}: container ports {ports} != {want_ports}")

    for kind, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        got = probe_get(ct.get(kind))
        c.check(got == (path, "admin") or got == (path, 9090), f"{where}: {kind} is {got}, want GET {path} on admin")
        probe = ct.get(kind) or {}
        c.check(probe.get("periodSeconds", 0) > 0 and probe.get("failureThreshold", 0) > 0,
                f"{where}: {kind} needs periodSeconds and failureThreshold")
    c.check(not (ct.get("lifecycle") or {}).get("preStop"), f"{where}: preStop hook (distroless image has no shell)")

    sc = ct.get("securityContext", {})
    c.check(sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem is not true")
    c.check(sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation is not false")
    c.check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: capabilities do not drop ALL")
    c.check(sc.get("privileged") in (None, False), f"{where}: privileged container")
    c.check(sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, f"{where}: container may run as root")

    res = ct.get("resources", {})
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            c.check(r in res.get(kind, {}), f"{where}: resources.{kind}.{r} unset")

    vols = {v["name"]: v for v in pod.get("volumes", [])}
    tmp = [m for m in ct.get("volumeMounts", []) if m.get("mountPath") == "/tmp"]
    c.check(len(tmp) == 1 and "emptyDir" in vols.get(tmp[0]["name"], {}) if tmp else False,
            f"{where}: /tmp is not an emptyDir mount")

    creds = [m for m in ct.get("volumeMounts", []) if m.get("name") == "nats-creds"]
    secret = vols.get("nats-creds", {}).get("secret", {})
    items = {i.get("key"): i.get("path") for i in secret.get("items", [])}
    c.check(secret.get("secretName") == f"showroom-nats-{name}" and items == {"creds": f"{name}.creds"},
            f"{where}: volume nats-creds is not Secret showroom-nats-{name} (key creds as {name}.creds)")
    c.check(len(creds) == 1 and creds[0].get("readOnly") is True,
            f"{where}: the NATS credentials are not mounted read-only")
    creds_path = f"{creds[0].get('mountPath')}/{name}.creds" if creds else None
    c.check(env_map(ct).get("SHOWROOM_NATS_CREDS", {}).get("value") == creds_path,
            f"{where}: SHOWROOM_NATS_CREDS is not the mounted {name}.creds")
    issuer = [m for m in ct.get("volumeMounts", []) if m.get("name") == "nats-issuer"]
    if name == "crm-export":
        ok = (len(issuer) == 1 and issuer[0].get("readOnly") is True
              and vols.get("nats-issuer", {}).get("secret", {}).get("secretName") == "showroom-nats-issuer")
        c.check(ok, f"{where}: Secret showroom-nats-issuer is not mounted read-only")
        base = issuer[0].get("mountPath") if issuer else None
        for var, file in (("SHOWROOM_NATS_ISSUER", "issuer.json"), ("SHOWROOM_NATS_SYSTEM_CREDS", "system.creds")):
            c.check(env_map(ct).get(var, {}).get("value") == f"{base}/{file}", f"{where}: {var} is not the mounted {file}")
    else:
        c.check(not issuer and "nats-issuer" not in vols, f"{where}: only crm-export holds the integrator issuer keys")

    env_from = [e.get("configMapRef", {}).get("name") for e in ct.get("envFrom", [])]
    c.check("showroom-config" in env_from, f"{where}: no envFrom configMapRef showroom-config")
    for ref in env_from:
        c.check(ref in configmaps, f"{where}: envFrom references missing ConfigMap {ref}")
    env = env_map(ct)
    c.check(secret_ref(env.get("SHOWROOM_DATABASE_URL")) == ("showroom-database", "url"),
            f"{where}: SHOWROOM_DATABASE_URL is not from Secret showroom-database key url")
    if name in HTTP_SERVICES:
        c.check(env.get("SHOWROOM_HTTP_ADDR", {}).get("value") == "0.0.0.0:8080",
                f"{where}: SHOWROOM_HTTP_ADDR is not 0.0.0.0:8080")
        c.check(secret_ref(env.get("SHOWROOM_VISITOR_TOKEN_SECRET")) == ("showroom-gateway", "visitor-token-secret"),
                f"{where}: SHOWROOM_VISITOR_TOKEN_SECRET is not from Secret showroom-gateway")
    else:
        c.check("SHOWROOM_HTTP_ADDR" not in env, f"{where}: unexpected SHOWROOM_HTTP_ADDR")
    redis = cm_ref(env.get("SHOWROOM_REDIS_URL"))
    if name in REDIS_SERVICES:
        ok = redis is not None and configmaps.get(redis[0], {}).get(redis[1], "").startswith("redis://")
        c.check(ok, f"{where}: SHOWROOM_REDIS_URL is not a redis:// URL from a ConfigMap")
    else:
        c.check(redis is None and "SHOWROOM_REDIS_URL" not in env, f"{where}: unexpected SHOWROOM_REDIS_URL")
    c.check("OTEL_EXPORTER_OTLP_ENDPOINT" not in env, f"{where}: OTEL_EXPORTER_OTLP_ENDPOINT should be left unset")
    for e in env.values():
        c.check("value" not in e or not any(w in e["name"] for w in ("SECRET", "PASSWORD", "DATABASE_URL")),
                f"{where}: {e['name']} has a literal value, it must come from a Secret")
        ref = cm_ref(e)
        if ref:
            c.check(ref[1] in configmaps.get(ref[0], {}), f"{where}: {e['name']} references missing ConfigMap key {ref}")
        ref = secret_ref(e)
        if ref:
            c.check(ref in SECRET_REFS, f"{where}: {e['name']} references unknown Secret key {ref}")


def check_job(c, job, tags):
    """The migrate Job: the schema owner's URL from its own Secret, locked down like the services."""
    where = "job/migrate"
    pod = job["spec"]["template"]["spec"]
    c.check(pod.get("restartPolicy") == "Never", f"{where}: restartPolicy is not Never")
    c.check(job["spec"].get("ttlSecondsAfterFinished", 0) > 0, f"{where}: no ttlSecondsAfterFinished")
    psc = pod.get("securityContext", {})
    c.check(psc.get("runAsNonRoot") is True, f"{where}: pod runAsNonRoot is not true")
    ct = (pod.get("containers") or [{}])[0]
    repo, _, tag = ct.get("image", "").rpartition(":")
    c.check(repo == IMAGE_REPO + "migrate" and tag, f"{where}: image is not {IMAGE_REPO}migrate:<tag>")
    tags.add(tag)
    c.check(ct.get("command") == ["/usr/local/bin/showroom-migrate"], f"{where}: command is not showroom-migrate")
    sc = ct.get("securityContext", {})
    c.check(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False,
            f"{where}: container not locked down")
    env = env_map(ct)
    c.check(secret_ref(env.get("SHOWROOM_DATABASE_URL")) == ("showroom-database-migrate", "url"),
            f"{where}: SHOWROOM_DATABASE_URL is not from Secret showroom-database-migrate")


def check_set(c, objs, profile):
    by = {}
    for o in objs:
        by.setdefault(o["kind"], {})[o["metadata"]["name"]] = o

    c.check("Secret" not in by, "rendered output contains a Secret: secrets must not be committed in the base")
    namespaces = {o["metadata"].get("namespace") for o in objs if o["kind"] != "Namespace"}
    c.check(len(namespaces) == 1 and None not in namespaces, f"objects are not all in one namespace: {namespaces}")
    if profile == "base":
        c.check(namespaces == {"showroom"}, f"base namespace is {namespaces}, want showroom")
    for o in objs:
        labels = o["metadata"].get("labels", {})
        c.check(labels.get(PART_OF[0]) == PART_OF[1], f"{o['kind']}/{o['metadata']['name']}: lacks {PART_OF[0]}={PART_OF[1]}")

    configmaps = {n: (o.get("data") or {}) for n, o in by.get("ConfigMap", {}).items()}
    shared = configmaps.get("showroom-config")
    if c.check(shared is not None, "ConfigMap showroom-config missing"):
        for key, want in SHARED_CONFIG.items():
            c.check(key in shared and (profile != "base" or shared[key] == want),
                    f"ConfigMap showroom-config: {key}={shared.get(key)!r}, want {want!r}")
        c.check("OTEL_EXPORTER_OTLP_ENDPOINT" not in shared or profile != "base",
                "ConfigMap showroom-config: OTEL_EXPORTER_OTLP_ENDPOINT should be left unset in the base")

    deployments, services = by.get("Deployment", {}), by.get("Service", {})
    c.check(sorted(deployments) == sorted(SERVICES), f"Deployments {sorted(deployments)} != {sorted(SERVICES)}")
    c.check(sorted(services) == sorted(SERVICES), f"Services {sorted(services)} != {sorted(SERVICES)}")
    tags = set()
    for name in SERVICES:
        dep = deployments.get(name)
        if dep:
            check_deployment(c, name, dep, profile, configmaps, tags)
        svc = services.get(name)
        if svc and dep:
            pod_labels = dep["spec"]["template"]["metadata"].get("labels", {})
            c.check(selects(svc["spec"].get("selector"), pod_labels), f"service/{name}: selector does not match the pods")
            ports = {p.get("name"): (p.get("port"), p.get("targetPort")) for p in svc["spec"].get("ports", [])}
            want = {"admin": (9090, "admin"), **({"http": (8080, "http")} if name in HTTP_SERVICES else {})}
            c.check(ports == want, f"service/{name}: ports {ports} != {want}")
    jobs = by.get("Job", {})
    if c.check(sorted(jobs) == ["migrate"], f"Jobs {sorted(jobs)} != ['migrate']"):
        check_job(c, jobs["migrate"], tags)
    c.check(len(tags) == 1, f"services use different image tags: {sorted(tags)}")

    hpas, pdbs = by.get("HorizontalPodAutoscaler", {}), by.get("PodDisruptionBudget", {})
    c.check(sorted(hpas) == sorted(SCALED), f"HPAs {sorted(hpas)} != {sorted(SCALED)}")
    c.check(sorted(pdbs) == sorted(SERVICES), f"PDBs {sorted(pdbs)} != {sorted(SERVICES)}")
    for name, hpa in hpas.items():
        spec = hpa["spec"]
        c.check(hpa["apiVersion"] == "autoscaling/v2", f"hpa/{name}: apiVersion is not autoscaling/v2")
        ref = spec.get("scaleTargetRef", {})
        c.check(ref.get("kind") == "Deployment" and ref.get("name") in deployments, f"hpa/{name}: bad scaleTargetRef {ref}")
        cpu = [m for m in spec.get("metrics", []) if m.get("resource", {}).get("name") == "cpu"]
        c.check(len(cpu) == 1 and cpu[0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70},
                f"hpa/{name}: no CPU 70% utilization target")
        if profile == "base":
            c.check((spec.get("minReplicas"), spec.get("maxReplicas")) == (2, 10), f"hpa/{name}: bounds are not 2..10")
        else:
            c.check(1 <= spec.get("minReplicas", 1) <= spec.get("maxReplicas", 0), f"hpa/{name}: bad bounds")
    for name, pdb in pdbs.items():
        dep = deployments.get(name)
        pod_labels = dep["spec"]["template"]["metadata"].get("labels", {}) if dep else {}
        c.check(selects(pdb["spec"].get("selector", {}).get("matchLabels"), pod_labels),
                f"pdb/{name}: selector does not match the pods")


def check_secret_example(c, path):
    objs = load(path)
    found = set()
    for o in objs:
        c.check(o.get("kind") == "Secret", f"{path}: {o.get('kind')} is not a Secret")
        data = o.get("stringData") or {}
        c.check(not o.get("data"), f"{path}: use stringData with placeholders, not data")
        for key, value in data.items():
            found.add((o["metadata"]["name"], key))
            c.check("CHANGE-ME" in str(value), f"{path}: {o['metadata']['name']}.{key} is not a CHANGE-ME placeholder")
    want = SECRET_REFS | MOUNTED_SECRET_EXAMPLES
    c.check(found == want, f"{path}: defines {sorted(found)}, the manifests read {sorted(want)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=["base", "overlay"], default="base")
    ap.add_argument("--secret-example")
    ap.add_argument("rendered")
    args = ap.parse_args()
    c = Checker()
    check_set(c, load(args.rendered), args.profile)
    if args.secret_example:
        check_secret_example(c, args.secret_example)
    for f in c.failures:
        print(f"POLICY FAIL {args.rendered}: {f}")
    print(f"policy {args.rendered}: {c.passed} checks passed, {len(c.failures)} failed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
