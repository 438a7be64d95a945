#!/usr/bin/env python3
"""Showroom-specific checks on rendered manifests (run by k8s/validate.sh).

The Kubernetes schemas (kubernetes-validate) say whether each object is
well-formed; this says whether the set is what Showroom needs: every service
present, wired to the right ports, probes, config and Secrets, and locked down.

    policy_check.py [--profile base|overlay|production] [--secret-example FILE]
                    [--site-env FILE] [--nats-values FILE] [--adapter-values FILE]
                    [--dashboard FILE] RENDERED.yaml

--profile base also checks the replica counts and HPA bounds of the base (an
overlay may change those). --profile production (k8s/overlays/production) checks
what a production install needs on top: PodDisruptionBudgets, native preStop
sleeps, zone spread, NetworkPolicies (default deny, then each workload's peers),
the ServiceMonitor, KEDA for the router, the gateway HPA's socket metric, the
Ingress's WebSocket timeouts and TLS, the CloudNativePG Cluster and Pooler, Redis,
site.env (no placeholder hosts), the NATS chart and prometheus-adapter values and
the Grafana dashboard. Prints one line per failure (and NOTE lines for what an
operator must still fill in) and a final count line; exits 1 on any failure.
Needs PyYAML only.
"""

import argparse
import ipaddress
import json
import posixpath
import re
import sys
from urllib.parse import urlsplit

import yaml

SERVICES = ["gateway", "presence", "router", "bot", "lead-capture", "notification", "crm-export"]
HTTP_SERVICES = {"gateway"}
REDIS_SERVICES = {"gateway", "presence", "notification"}
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
    ("showroom-gateway", "mfa-key"),
    ("showroom-smtp", "url"),
    ("showroom-database-migrate", "url"),
}
# The production overlay reads these besides (Redis's password; the CNPG-generated owner URI).
PRODUCTION_SECRET_REFS = (SECRET_REFS - {("showroom-database-migrate", "url")}) | {
    ("showroom-redis", "password"),
    ("showroom-db-app", "uri"),
}
# Mounted as files, not read through env: one per service (showroom-nats-<service>, key creds);
# the example file shows the gateway's.
MOUNTED_SECRET_EXAMPLES = {
    ("showroom-nats-gateway", "creds"),
    ("showroom-nats-issuer", "issuer.json"),
    ("showroom-nats-issuer", "system.creds"),
    # The identity providers' client secrets (single sign-on), one key per provider; the
    # example shows one.
    ("showroom-oidc", "acme-okta"),
}

# Production profile.
NAME = "app.kubernetes.io/name"
ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"
# What a service may still do after SIGTERM: 20 s for in-flight work (libs/runtime), then
# unregister and drain NATS; the grace period must cover the preStop sleep plus this.
DRAIN_SECONDS = 25
NAMESPACE = "showroom"
# Namespaces of the peers (k8s/overlays/production/networkpolicies.yaml).
NS_NATS, NS_MONITORING, NS_OTEL, NS_INGRESS, NS_DNS, NS_CNPG = (
    "nats", "monitoring", "observability", "ingress-nginx", "kube-system", "cnpg-system")
NATS_POD = {NAME: "nats", "app.kubernetes.io/instance": "nats", "app.kubernetes.io/component": "nats"}
DNS_POD = {"k8s-app": "kube-dns"}
SITE_KEYS = ("SHOWROOM_SMTP_FROM", "SHOWROOM_CONSOLE_URL", "SHOWROOM_PUBLIC_HOST", "SHOWROOM_PUBLIC_URL")
# Names the Grafana dashboard and the alerts may use: what the services export (histograms
# with _bucket, _sum, _count), plus Prometheus's `up`.
COUNTERS_GAUGES = {
    "showroom_build_info", "showroom_sockets_open", "showroom_frames_total", "showroom_routing_decisions_total",
    "showroom_offers_total", "showroom_offer_accepts_total", "showroom_outbox_pending_rows",
    "showroom_outbox_oldest_age_seconds", "showroom_jetstream_consumer_pending_messages",
    "showroom_heartbeats_total", "showroom_webhook_attempts_total", "showroom_email_attempts_total",
    "showroom_dead_letters_total", "showroom_db_pool_connections", "showroom_nats_reconnects_total",
}
HISTOGRAMS = {"showroom_send_ack_duration_seconds", "showroom_routing_decision_duration_seconds"}
SHOWROOM_METRICS = COUNTERS_GAUGES | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}
# kube-state-metrics, used by one alert (not by the dashboard).
RULE_EXTRA_METRICS = {"kube_deployment_status_replicas_unavailable"}


class Checker:
    def __init__(self):
        self.passed = 0
        self.failures = []
        self.notes = []

    def note(self, what):
        self.notes.append(what)

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
    production = profile == "production"
    where = f"deployment/{name}"
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"].get("labels", {})
    c.check(selects(spec["selector"].get("matchLabels"), pod_labels),
            f"{where}: selector does not match the pod template labels")
    c.check(pod_labels.get(PART_OF[0]) == PART_OF[1], f"{where}: pod template lacks {PART_OF[0]}={PART_OF[1]}")
    if profile == "base":
        c.check(spec.get("replicas") == 2, f"{where}: replicas {spec.get('replicas')} != 2")

    if not production:
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
    pre_stop = (ct.get("lifecycle") or {}).get("preStop") or {}
    c.check("exec" not in pre_stop, f"{where}: exec preStop hook (distroless image: no shell, no sleep binary)")
    if production:
        # Kubernetes' own sleep action (PodLifecycleSleepAction, on by default since 1.30).
        sleep = (pre_stop.get("sleep") or {}).get("seconds")
        if c.check(isinstance(sleep, int) and sleep > 0, f"{where}: no lifecycle.preStop.sleep.seconds"):
            grace = pod.get("terminationGracePeriodSeconds", 30)
            c.check(grace > sleep + DRAIN_SECONDS,
                    f"{where}: terminationGracePeriodSeconds {grace} is not above preStop sleep {sleep}"
                    f" + {DRAIN_SECONDS} s drain")
        c.check(spreads(pod, pod_labels, ZONE_KEY), f"{where}: no topologySpreadConstraint on {ZONE_KEY} for its pods")
        c.check(spreads(pod, pod_labels, HOST_KEY), f"{where}: no topologySpreadConstraint on {HOST_KEY} for its pods")
    else:
        c.check(not pre_stop, f"{where}: preStop hook in the {profile} profile")

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
    if name in REDIS_SERVICES and production:
        # The password comes from a Secret, expanded into the URL by Kubernetes: the variable
        # must be defined before the URL that uses it.
        names = [e["name"] for e in ct.get("env", [])]
        ok = (secret_ref(env.get("REDIS_PASSWORD")) == ("showroom-redis", "password")
              and env.get("SHOWROOM_REDIS_URL", {}).get("value") == "redis://:$(REDIS_PASSWORD)@redis:6379"
              and names.index("REDIS_PASSWORD") < names.index("SHOWROOM_REDIS_URL"))
        c.check(ok, f"{where}: SHOWROOM_REDIS_URL is not redis://:$(REDIS_PASSWORD)@redis:6379 with REDIS_PASSWORD"
                    " from Secret showroom-redis (key password) defined before it")
    elif name in REDIS_SERVICES:
        ok = redis is not None and configmaps.get(redis[0], {}).get(redis[1], "").startswith("redis://")
        c.check(ok, f"{where}: SHOWROOM_REDIS_URL is not a redis:// URL from a ConfigMap")
    else:
        c.check(redis is None and "SHOWROOM_REDIS_URL" not in env, f"{where}: unexpected SHOWROOM_REDIS_URL")
    c.check("OTEL_EXPORTER_OTLP_ENDPOINT" not in env, f"{where}: OTEL_EXPORTER_OTLP_ENDPOINT should be left unset")
    for e in env.values():
        # A *_DIR names where mounted Secret files are (SHOWROOM_OIDC_SECRETS_DIR), not a secret.
        c.check("value" not in e or e["name"].endswith("_DIR")
                or not any(w in e["name"] for w in ("SECRET", "PASSWORD", "DATABASE_URL")),
                f"{where}: {e['name']} has a literal value, it must come from a Secret")
        ref = cm_ref(e)
        if ref:
            c.check(ref[1] in configmaps.get(ref[0], {}), f"{where}: {e['name']} references missing ConfigMap key {ref}")
        ref = secret_ref(e)
        if ref:
            known = PRODUCTION_SECRET_REFS if production else SECRET_REFS
            c.check(ref in known, f"{where}: {e['name']} references unknown Secret key {ref}")


def spreads(pod, pod_labels, key):
    """A topology spread constraint on `key` whose selector picks exactly this service's pods:
    its own name label in the selector, or through matchLabelKeys."""
    for tsc in pod.get("topologySpreadConstraints") or []:
        if tsc.get("topologyKey") != key or tsc.get("maxSkew", 0) < 1:
            continue
        sel = tsc.get("labelSelector") or {}
        if not selector_matches(sel, pod_labels):
            continue
        keys = set((sel.get("matchLabels") or {})) | set(tsc.get("matchLabelKeys") or [])
        keys |= {e.get("key") for e in sel.get("matchExpressions") or []}
        if NAME in keys:
            return True
    return False


def check_job(c, job, tags, profile="base"):
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
    if profile == "production":
        # The schema owner's URI that CloudNativePG generates (<cluster>-app), to the rw Service.
        c.check(secret_ref(env.get("SHOWROOM_DATABASE_URL")) == ("showroom-db-app", "uri"),
                f"{where}: SHOWROOM_DATABASE_URL is not from Secret showroom-db-app key uri (CNPG's owner URI)")
    else:
        c.check(secret_ref(env.get("SHOWROOM_DATABASE_URL")) == ("showroom-database-migrate", "url"),
                f"{where}: SHOWROOM_DATABASE_URL is not from Secret showroom-database-migrate")


def check_set(c, objs, profile, files=None):
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

    production = profile == "production"
    deployments, services = by.get("Deployment", {}), by.get("Service", {})
    c.check(sorted(deployments) == sorted(SERVICES), f"Deployments {sorted(deployments)} != {sorted(SERVICES)}")
    want_services = sorted(SERVICES + (["redis", "gateway-sockets"] if production else []))
    c.check(sorted(services) == want_services, f"Services {sorted(services)} != {want_services}")
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
        check_job(c, jobs["migrate"], tags, profile)
    c.check(len(tags) == 1, f"services use different image tags: {sorted(tags)}")

    hpas, pdbs = by.get("HorizontalPodAutoscaler", {}), by.get("PodDisruptionBudget", {})
    # In production KEDA scales the router (its ScaledObject makes the HPA): only the gateway's
    # HPA is rendered.
    want_hpas = sorted(SCALED - ({"router"} if production else set()))
    c.check(sorted(hpas) == want_hpas, f"HPAs {sorted(hpas)} != {want_hpas}")
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
        spec = pdb["spec"]
        c.check(spec.get("maxUnavailable", 0) in (1, "1") or ("minAvailable" in spec and "maxUnavailable" not in spec),
                f"pdb/{name}: neither maxUnavailable 1 nor a minAvailable")
    if production:
        check_production(c, by, objs, files)


# ------------------------------------------------------------------ production ----------


def selector_matches(selector, labels):
    """A Kubernetes LabelSelector (matchLabels and matchExpressions) against a label set;
    an empty selector matches everything."""
    selector = selector or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


class Peer:
    """One end of a connection, as a NetworkPolicy sees it: a pod (namespace and labels) or an
    address outside the cluster."""

    def __init__(self, namespace=None, labels=None, ip=None):
        self.namespace, self.labels, self.ip = namespace, labels or {}, ip

    def __repr__(self):
        return self.ip or f"{self.namespace}/{self.labels}"


def peer_matches(rule_peer, peer, own_namespace):
    if "ipBlock" in rule_peer:
        if peer.ip is None:
            return False
        block = rule_peer["ipBlock"]
        ip = ipaddress.ip_address(peer.ip)
        net = ipaddress.ip_network(block["cidr"])
        if ip.version != net.version or ip not in net:
            return False
        return not any(ip.version == ipaddress.ip_network(x).version and ip in ipaddress.ip_network(x)
                       for x in block.get("except") or [])
    if peer.ip is not None:
        return False
    ns_sel, pod_sel = rule_peer.get("namespaceSelector"), rule_peer.get("podSelector")
    if ns_sel is None:
        if peer.namespace != own_namespace:
            return False
    elif not selector_matches(ns_sel, {"kubernetes.io/metadata.name": peer.namespace}):
        return False
    return pod_sel is None or selector_matches(pod_sel, peer.labels)


def port_matches(rule_ports, port, protocol):
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        lo = p.get("port")
        if lo is None:
            return True
        if isinstance(lo, str):
            continue  # named ports: not used here
        if lo <= port <= p.get("endPort", lo):
            return True
    return False


class NetworkPolicies:
    def __init__(self, policies, namespace):
        self.policies = list(policies)
        self.namespace = namespace

    def selecting(self, labels, direction):
        return [p for p in self.policies
                if selector_matches(p["spec"].get("podSelector"), labels)
                and direction in p["spec"].get("policyTypes", ["Ingress"])]

    def allows(self, labels, direction, peer, port, protocol="TCP"):
        """Whether traffic of `labels`' pods to (Egress) or from (Ingress) `peer` on `port` is
        allowed, given that a default deny selects every pod."""
        field, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        for pol in self.selecting(labels, direction):
            for rule in pol["spec"].get(field) or []:
                peers = rule.get(peers_key)
                if not port_matches(rule.get("ports"), port, protocol):
                    continue
                if not peers or any(peer_matches(rp, peer, self.namespace) for rp in peers):
                    return True
        return False


def workload_pods(by):
    """name -> the labels of its pods, for everything in the namespace that makes pods."""
    pods = {}
    for kind in ("Deployment", "StatefulSet", "Job"):
        for name, o in by.get(kind, {}).items():
            pods[f"{kind.lower()}/{name}"] = o["spec"]["template"]["metadata"].get("labels", {})
    for name, cl in by.get("Cluster", {}).items():
        inherited = ((cl["spec"].get("inheritedMetadata") or {}).get("labels") or {})
        for role in ("primary", "replica"):
            pods[f"cluster/{name} ({role})"] = {
                **inherited, "cnpg.io/cluster": name, "cnpg.io/podRole": "instance",
                "cnpg.io/instanceRole": role, "role": role, "cnpg.io/instanceName": f"{name}-1"}
        pods[f"cluster/{name} (initdb job)"] = {**inherited, "cnpg.io/cluster": name, "cnpg.io/jobRole": "initdb"}
    for name, pl in by.get("Pooler", {}).items():
        tmpl = ((pl["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        # Modelled with cnpg.io/cluster too: policies for the instances must not pick the poolers.
        pods[f"pooler/{name}"] = {**tmpl, "cnpg.io/poolerName": name, "cnpg.io/podRole": "pooler",
                                  "cnpg.io/cluster": pl["spec"]["cluster"]["name"]}
    return pods


def check_network_policies(c, by, pods, pooler, cluster):
    nps = list(by.get("NetworkPolicy", {}).values())
    net = NetworkPolicies(nps, NAMESPACE)
    deny = [p for p in nps if p["spec"].get("podSelector") in ({}, None)
            and set(p["spec"].get("policyTypes", [])) >= {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    c.check(deny, "networkpolicy: no default deny (podSelector {}, policyTypes Ingress and Egress, no rules)")
    dns = Peer(NS_DNS, DNS_POD)
    outside = Peer(ip="198.51.100.7")
    stranger = Peer("default", {"run": "curl"})
    for what, labels in pods.items():
        allowing = [p for p in nps if selector_matches(p["spec"].get("podSelector"), labels)
                    and (p["spec"].get("ingress") or p["spec"].get("egress"))]
        c.check(allowing, f"networkpolicy: {what} is selected by no allowing policy")
        for proto in ("UDP", "TCP"):
            c.check(net.allows(labels, "Egress", dns, 53, proto), f"networkpolicy: {what} cannot reach DNS ({proto} 53)")
        c.check(not net.allows(labels, "Ingress", stranger, 9090) and not net.allows(labels, "Ingress", stranger, 5432),
                f"networkpolicy: {what} accepts connections from any pod in the cluster")
    pooler_pod = pods.get(f"pooler/{pooler}", {})
    primary = pods.get(f"cluster/{cluster} (primary)", {})
    redis = pods.get("statefulset/redis", {})
    for name in SERVICES:
        labels = pods.get(f"deployment/{name}")
        if labels is None:
            continue
        where = f"networkpolicy: {name}"
        c.check(net.allows(labels, "Egress", Peer(NS_NATS, NATS_POD), 4222), f"{where} cannot reach NATS ({NS_NATS}, 4222)")
        c.check(net.allows(labels, "Egress", Peer(NAMESPACE, pooler_pod), 5432), f"{where} cannot reach the pooler (5432)")
        c.check(net.allows(labels, "Egress", Peer(NS_OTEL, {"app": "otel-collector"}), 4317),
                f"{where} cannot send traces to {NS_OTEL} (4317)")
        c.check(net.allows(labels, "Ingress", Peer(NS_MONITORING, {"app.kubernetes.io/name": "prometheus"}), 9090),
                f"{where} cannot be scraped from {NS_MONITORING} (9090)")
        c.check(not net.allows(labels, "Egress", Peer(NAMESPACE, primary), 5432),
                f"{where} may bypass the pooler (straight to Postgres)")
        c.check(net.allows(labels, "Egress", Peer(NAMESPACE, redis), 6379) == (name in REDIS_SERVICES),
                f"{where}: Redis (6379) should be reachable by {sorted(REDIS_SERVICES)} only")
        smtp = all(net.allows(labels, "Egress", outside, p) for p in (25, 465, 587))
        c.check(smtp == (name in ("notification", "crm-export")),
                f"{where}: SMTP (25/465/587) out should be open to notification and crm-export only")
        web = all(net.allows(labels, "Egress", outside, p) for p in (80, 443))
        c.check(web == (name == "crm-export"), f"{where}: web (80/443) out should be open to crm-export only")
        ingress_ctl = net.allows(labels, "Ingress", Peer(NS_INGRESS, {NAME: "ingress-nginx"}), 8080)
        c.check(ingress_ctl == (name in HTTP_SERVICES), f"{where}: 8080 from {NS_INGRESS} should reach the gateway only")
    crm = pods.get("deployment/crm-export", {})
    for ip in ("10.0.0.5", "172.20.1.1", "192.168.1.1", "169.254.169.254", "fd00::1", "fe80::1"):
        c.check(not net.allows(crm, "Egress", Peer(ip=ip), 443), f"networkpolicy: crm-export webhooks may reach {ip}")
    migrate = pods.get("job/migrate", {})
    c.check(net.allows(migrate, "Egress", Peer(NAMESPACE, primary), 5432), "networkpolicy: migrate cannot reach Postgres (5432)")
    c.check(net.allows(primary, "Ingress", Peer(NAMESPACE, migrate), 5432), "networkpolicy: Postgres does not accept migrate")
    c.check(net.allows(primary, "Ingress", Peer(NAMESPACE, pooler_pod), 5432), "networkpolicy: Postgres does not accept the pooler")
    c.check(net.allows(pooler_pod, "Egress", Peer(NAMESPACE, primary), 5432), "networkpolicy: the pooler cannot reach Postgres")
    c.check(net.allows(primary, "Ingress", Peer(NS_CNPG, {NAME: "cloudnative-pg"}), 8000),
            f"networkpolicy: the CNPG operator ({NS_CNPG}) cannot reach the instances (8000)")
    replica = pods.get(f"cluster/{cluster} (replica)", {})
    c.check(net.allows(replica, "Egress", Peer(NAMESPACE, primary), 5432)
            and net.allows(primary, "Ingress", Peer(NAMESPACE, replica), 5432),
            "networkpolicy: replicas cannot stream from the primary")
    for name in SERVICES:
        labels = pods.get(f"deployment/{name}", {})
        c.check(net.allows(pooler_pod, "Ingress", Peer(NAMESPACE, labels), 5432),
                f"networkpolicy: the pooler does not accept {name}")
    for name in REDIS_SERVICES:
        c.check(net.allows(redis, "Ingress", Peer(NAMESPACE, pods.get(f"deployment/{name}", {})), 6379),
                f"networkpolicy: Redis does not accept {name}")


def metric_names(expr):
    """The metric names a PromQL expression reads (good enough for the expressions here)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)               # strings
    e = re.sub(r"\{[^}]*\}", "", e)                           # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                          # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    words = re.findall(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", e)
    keywords = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                "offset", "inf", "nan", "Inf", "NaN"}
    return {w for w, call in words if not call and w not in keywords}


def check_metric_names(c, what, expr, allowed):
    names = metric_names(expr)
    bad = sorted(n for n in names if n not in allowed)
    c.check(not bad, f"{what}: unknown metric name(s) {bad} in {expr!r}")
    return names


def check_dashboard(c, path, rendered_cm):
    where = path
    try:
        with open(path) as f:
            text = f.read()
        dash = json.loads(text)
    except (OSError, ValueError) as e:
        c.check(False, f"{where}: not readable JSON ({e})")
        return
    variables = {v.get("name"): v for v in (dash.get("templating") or {}).get("list", [])}
    ds = variables.get("datasource") or {}
    c.check(ds.get("type") == "datasource" and ds.get("query") == "prometheus",
            f"{where}: no `datasource` template variable of type datasource (prometheus)")
    used = set()
    allowed = SHOWROOM_METRICS | {"up"}

    def walk(panels):
        for p in panels:
            if p.get("type") == "row":
                walk(p.get("panels") or [])
                continue
            title = p.get("title")
            c.check((p.get("datasource") or {}).get("uid") == "${datasource}",
                    f"{where}: panel {title!r} does not use ${{datasource}}")
            c.check(p.get("targets"), f"{where}: panel {title!r} has no query")
            for t in p.get("targets") or []:
                c.check((t.get("datasource") or {}).get("uid") in (None, "${datasource}"),
                        f"{where}: a query of panel {title!r} does not use ${{datasource}}")
                if c.check(t.get("expr"), f"{where}: a query of panel {title!r} has no expr"):
                    used.update(check_metric_names(c, f"{where}: panel {title!r}", t["expr"], allowed))
    walk(dash.get("panels") or [])
    for v in variables.values():
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if v.get("type") == "query" and isinstance(q, str):
            for m in re.findall(r"label_values\(\s*([a-zA-Z_:][\w:]*)", q):
                c.check(m in allowed, f"{where}: variable {v.get('name')} reads unknown metric {m}")
    # One panel or more for every metric the services export.
    for m in sorted(COUNTERS_GAUGES | HISTOGRAMS | {"up"}):
        c.check(any(u == m or u.startswith(m + "_") and u[len(m) + 1:] in ("bucket", "sum", "count") for u in used),
                f"{where}: no panel reads {m}")
    if rendered_cm is not None:
        data = rendered_cm.get("data") or {}
        c.check(rendered_cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1",
                "configmap/showroom-dashboard: no label grafana_dashboard=1")
        c.check(len(data) == 1 and all(json.loads(v) == dash for v in data.values()),
                f"configmap/showroom-dashboard: does not hold {path}")


def reserved_host(host):
    """A host that is a placeholder: RFC 2606/6761 names (example, invalid, test, localhost)."""
    h = (host or "").lower().rstrip(".")
    if h in ("", "localhost", "example", "invalid", "test"):
        return True
    if any(h.endswith(s) for s in (".invalid", ".example", ".test", ".localhost")):
        return True
    return any(h == d or h.endswith("." + d) for d in ("example.com", "example.net", "example.org"))


DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")


def site_problem(key, value):
    """Why a site value is unusable, or None. Empty is allowed (the operator fills it in)."""
    if value == "":
        return None
    if key == "SHOWROOM_PUBLIC_HOST":
        if not DNS_NAME.match(value.lower()):
            return "is not a bare DNS name (no scheme, port or path)"
        return "names a reserved example host" if reserved_host(value) else None
    if key == "SHOWROOM_PUBLIC_URL":
        u = urlsplit(value)
        if u.scheme != "https" or not u.hostname or u.path not in ("", "/") or u.query:
            return "is not an https:// URL with no path"
        return f"names a reserved example host ({u.hostname})" if reserved_host(u.hostname) else None
    if key == "SHOWROOM_CONSOLE_URL":
        u = urlsplit(value)
        if u.scheme != "https" or not u.hostname:
            return "is not an https:// URL"
        return f"names a reserved example host ({u.hostname})" if reserved_host(u.hostname) else None
    if key == "SHOWROOM_SMTP_FROM":
        m = re.fullmatch(r"\s*(?:[^<>]*<\s*([^<>\s]+)\s*>|([^<>\s]+))\s*", value)
        addr = (m.group(1) or m.group(2)) if m else ""
        local, at, domain = addr.rpartition("@")
        if not (local and at and domain):
            return "is not an address (Name <user@domain> or user@domain)"
        return f"names a reserved example host ({domain})" if reserved_host(domain) else None
    return None


def read_env_file(path):
    values, order = {}, []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key, eq, value = line.partition("=")
            values[key.strip()] = value if eq else None
            order.append((n, key.strip(), eq))
    return values, order


def check_site(c, path, shared):
    where = path
    try:
        values, order = read_env_file(path)
    except OSError as e:
        c.check(False, f"{where}: cannot read ({e})")
        return
    for n, key, eq in order:
        c.check(eq == "=", f"{where}:{n}: {key!r} is not KEY=value")
    c.check(sorted(values) == sorted(SITE_KEYS), f"{where}: keys {sorted(values)} != {sorted(SITE_KEYS)}")
    for key in SITE_KEYS:
        value = values.get(key)
        if value is None:
            continue
        problem = site_problem(key, value)
        c.check(problem is None, f"{where}: {key}={value!r} {problem}")
        if value == "":
            c.note(f"{where}: {key} is empty; fill it in before applying the production overlay")
        c.check((shared or {}).get(key) == value, f"ConfigMap showroom-config: {key} is not the value of {where}")
    host, public = values.get("SHOWROOM_PUBLIC_HOST"), values.get("SHOWROOM_PUBLIC_URL")
    if host and public and site_problem("SHOWROOM_PUBLIC_URL", public) is None:
        c.check(urlsplit(public).hostname == host.lower(),
                f"{where}: SHOWROOM_PUBLIC_URL is not on SHOWROOM_PUBLIC_HOST ({host}): passkeys are bound to the host the agents open")
    host, console = values.get("SHOWROOM_PUBLIC_HOST"), values.get("SHOWROOM_CONSOLE_URL")
    if host and console and site_problem("SHOWROOM_CONSOLE_URL", console) is None:
        c.check(urlsplit(console).hostname == host.lower(),
                f"{where}: SHOWROOM_CONSOLE_URL is not on SHOWROOM_PUBLIC_HOST ({host}), where the gateway serves the console")


def load_yaml_file(c, path):
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        c.check(False, f"{path}: not readable YAML ({e})")
        return None


def dig(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def check_nats_values(c, path):
    v = load_yaml_file(c, path)
    if v is None:
        return
    where = path
    c.check(dig(v, "config", "cluster", "enabled") is True, f"{where}: config.cluster.enabled is not true")
    c.check(dig(v, "config", "cluster", "replicas") == 3, f"{where}: config.cluster.replicas is not 3")
    c.check(dig(v, "config", "jetstream", "enabled") is True, f"{where}: config.jetstream.enabled is not true")
    c.check(dig(v, "config", "jetstream", "fileStore", "enabled") is True,
            f"{where}: config.jetstream.fileStore.enabled is not true")
    c.check(dig(v, "config", "jetstream", "fileStore", "pvc", "enabled") is True
            and dig(v, "config", "jetstream", "fileStore", "pvc", "size"),
            f"{where}: JetStream file store has no PVC (config.jetstream.fileStore.pvc)")
    c.check(dig(v, "config", "monitor", "enabled") is True and dig(v, "config", "monitor", "port") == 8222,
            f"{where}: monitoring is not on 8222 (config.monitor)")
    includes = [val for key, val in (dig(v, "config", "merge") or {}).items() if str(key).endswith("$include")]
    c.check(any(str(i).endswith("nats-auth.conf") for i in includes),
            f"{where}: nats.conf does not include nats-auth.conf (config.merge.<n>$include)")
    volumes = [op.get("value") or {} for op in dig(v, "podTemplate", "patch") or []]
    mounts = [op.get("value") or {} for op in dig(v, "container", "patch") or []]
    vol = [x for x in volumes if dig(x, "secret", "secretName") == "showroom-trust"]
    c.check(vol and any(m.get("name") == vol[0].get("name") for m in mounts),
            f"{where}: Secret showroom-trust is not mounted into the nats container")
    if vol and includes:
        # Includes are relative to the chart's /etc/nats-config.
        mount = next((m for m in mounts if m.get("name") == vol[0].get("name")), {})
        resolved = posixpath.normpath(posixpath.join("/etc/nats-config", str(includes[0])))
        c.check(resolved == posixpath.join(mount.get("mountPath", "?"), "nats-auth.conf"),
                f"{where}: the include ({includes[0]}, relative to /etc/nats-config) is not the mounted file")


def check_adapter_values(c, path, hpa_metrics):
    v = load_yaml_file(c, path)
    if v is None:
        return
    rules = dig(v, "rules", "custom") or []
    exposed = {}
    for r in rules:
        name = dig(r, "name", "as") or ""
        exposed[name] = r
    for m in hpa_metrics:
        r = exposed.get(m)
        if c.check(r is not None, f"{path}: no rules.custom entry exposes {m} (the gateway HPA's metric)"):
            check_metric_names(c, f"{path}: rule {m}", r.get("seriesQuery", ""), SHOWROOM_METRICS)
            ov = dig(r, "resources", "overrides") or {}
            c.check(dig(ov, "pod", "resource") == "pod" and dig(ov, "namespace", "resource") == "namespace",
                    f"{path}: rule {m} does not map the pod and namespace labels")


def check_production(c, by, objs, files=None):
    files = files or {}
    deployments = by.get("Deployment", {})
    services = by.get("Service", {})
    configmaps = {n: (o.get("data") or {}) for n, o in by.get("ConfigMap", {}).items()}
    shared = configmaps.get("showroom-config") or {}

    # Config: NATS of the chart, traces on, the site's values (no placeholder hosts).
    c.check(shared.get("SHOWROOM_NATS_URL", "").startswith(("nats://", "tls://")),
            "ConfigMap showroom-config: SHOWROOM_NATS_URL is not a nats:// or tls:// URL")
    c.check(shared.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").startswith(("http://", "https://")),
            "ConfigMap showroom-config: OTEL_EXPORTER_OTLP_ENDPOINT is not set")
    for key in SITE_KEYS:
        if c.check(key in shared, f"ConfigMap showroom-config: {key} missing (site.env)"):
            problem = site_problem(key, shared[key])
            c.check(problem is None, f"ConfigMap showroom-config: {key}={shared[key]!r} {problem}")
    c.check("showroom-redis" not in configmaps, "ConfigMap showroom-redis is still rendered (the URL comes from a Secret)")

    # Scaling: KEDA for the router on JetStream backlog and routing rate; the gateway on sockets.
    hpas = by.get("HorizontalPodAutoscaler", {})
    gw = hpas.get("gateway")
    hpa_metrics = []
    if c.check(gw is not None, "hpa/gateway missing"):
        pods_metrics = [m for m in gw["spec"].get("metrics", []) if m.get("type") == "Pods"]
        sock = [m for m in pods_metrics if dig(m, "pods", "metric", "name") == "showroom_sockets_open"]
        c.check(sock and dig(sock[0], "pods", "target", "type") == "AverageValue"
                and dig(sock[0], "pods", "target", "averageValue") not in (None, "", "0"),
                "hpa/gateway: no Pods metric showroom_sockets_open with an averageValue target")
        hpa_metrics = [dig(m, "pods", "metric", "name") for m in pods_metrics]
    for name in ("gateway", "router"):
        c.check("replicas" not in (deployments.get(name) or {}).get("spec", {}),
                f"deployment/{name}: sets replicas, which its autoscaler owns")
    sos = by.get("ScaledObject", {})
    so = next((o for o in sos.values() if dig(o, "spec", "scaleTargetRef", "name") == "router"), None)
    if c.check(so is not None, "no KEDA ScaledObject scales deployment/router"):
        spec = so["spec"]
        c.check(dig(spec, "scaleTargetRef", "kind") in (None, "Deployment"), "scaledobject: target is not a Deployment")
        c.check(spec.get("minReplicaCount", 0) >= 2 and spec.get("maxReplicaCount", 100) >= spec.get("minReplicaCount", 0),
                "scaledobject/router: minReplicaCount below 2 or max below min")
        trig = {t.get("type"): t for t in spec.get("triggers", [])}
        js = trig.get("nats-jetstream")
        if c.check(js is not None, "scaledobject/router: no nats-jetstream trigger"):
            md = js.get("metadata") or {}
            c.check(md.get("stream") == "PRESENCE" and md.get("consumer") == "router-presence",
                    "scaledobject/router: nats-jetstream trigger is not stream PRESENCE, consumer router-presence")
            c.check(str(md.get("natsServerMonitoringEndpoint", "")).endswith(":8222"),
                    "scaledobject/router: natsServerMonitoringEndpoint is not a :8222 monitoring endpoint")
            c.check(int(md.get("lagThreshold", "0") or 0) > 0, "scaledobject/router: no lagThreshold")
            ref = dig(js, "authenticationRef", "name")
            ta = by.get("TriggerAuthentication", {}).get(ref) if ref else None
            via_auth = ta is not None and any(s.get("parameter") == "account"
                                              for s in dig(ta, "spec", "secretTargetRef") or [])
            c.check(md.get("account") or via_auth,
                    "scaledobject/router: the NATS account is neither in metadata nor from a TriggerAuthentication")
        prom = trig.get("prometheus")
        if c.check(prom is not None, "scaledobject/router: no prometheus trigger"):
            md = prom.get("metadata") or {}
            q = md.get("query", "")
            names = check_metric_names(c, "scaledobject/router: prometheus query", q, SHOWROOM_METRICS)
            c.check("showroom_routing_decisions_total" in names and "rate(" in q,
                    "scaledobject/router: the prometheus query is not a rate of showroom_routing_decisions_total")
            c.check(float(md.get("threshold", "0") or 0) > 0, "scaledobject/router: prometheus trigger has no threshold")
            c.check(str(md.get("serverAddress", "")).startswith("http"), "scaledobject/router: no serverAddress")

    # Ingress: the gateway's http port, WebSocket timeouts, no buffering, TLS.
    ings = by.get("Ingress", {})
    ing = next((o for o in ings.values()
                if any(dig(p, "backend", "service", "name") == "gateway"
                       for r in o["spec"].get("rules", []) for p in dig(r, "http", "paths") or [])), None)
    if c.check(ing is not None, "no Ingress routes to service/gateway"):
        ann = ing["metadata"].get("annotations") or {}
        for key in ("proxy-read-timeout", "proxy-send-timeout"):
            val = ann.get(f"nginx.ingress.kubernetes.io/{key}", "0")
            c.check(str(val).isdigit() and int(val) >= 3600, f"ingress/{ing['metadata']['name']}: {key} {val!r} < 3600 s")
        c.check(ann.get("nginx.ingress.kubernetes.io/proxy-buffering") == "off",
                f"ingress/{ing['metadata']['name']}: proxy-buffering is not off")
        ports = [dig(p, "backend", "service", "port") for r in ing["spec"].get("rules", [])
                 for p in dig(r, "http", "paths") or []]
        c.check(all(p in ({"name": "http"}, {"number": 8080}) for p in ports),
                f"ingress/{ing['metadata']['name']}: not to the gateway's http port: {ports}")
        tls = ing["spec"].get("tls") or []
        c.check(tls and (all(t.get("secretName") for t in tls) or any(k.startswith("cert-manager.io/") for k in ann)),
                f"ingress/{ing['metadata']['name']}: no TLS (a secretName or a cert-manager annotation)")
        hosts = {r.get("host") for r in ing["spec"].get("rules", [])} | {h for t in tls for h in t.get("hosts", [])}
        c.check(hosts == {shared.get("SHOWROOM_PUBLIC_HOST")},
                f"ingress/{ing['metadata']['name']}: hosts {sorted(hosts)} are not SHOWROOM_PUBLIC_HOST of site.env")

    # The socket paths: hashed by the `route` query parameter (the dealer group) to a Service of
    # their own, so that a group's sockets share a gateway and the API stays spread.
    sock_ing = next((o for o in ings.values()
                     if {dig(p, "path") for r in o["spec"].get("rules", []) for p in dig(r, "http", "paths") or []}
                     >= {"/ws/widget", "/ws/console"}), None)
    if c.check(sock_ing is not None, "no Ingress for the paths /ws/widget and /ws/console"):
        name = sock_ing["metadata"]["name"]
        ann = sock_ing["metadata"].get("annotations") or {}
        c.check(ann.get("nginx.ingress.kubernetes.io/upstream-hash-by") == "$arg_route",
                f"ingress/{name}: upstream-hash-by is not $arg_route")
        for key in ("proxy-read-timeout", "proxy-send-timeout"):
            val = ann.get(f"nginx.ingress.kubernetes.io/{key}", "0")
            c.check(str(val).isdigit() and int(val) >= 3600, f"ingress/{name}: {key} {val!r} < 3600 s")
        c.check(ann.get("nginx.ingress.kubernetes.io/proxy-buffering") == "off", f"ingress/{name}: proxy-buffering is not off")
        backends = {dig(p, "backend", "service", "name") for r in sock_ing["spec"].get("rules", [])
                    for p in dig(r, "http", "paths") or []}
        c.check(backends == {"gateway-sockets"}, f"ingress/{name}: not to service/gateway-sockets: {sorted(backends)}")
        hosts = {r.get("host") for r in sock_ing["spec"].get("rules", [])}
        c.check(hosts == {shared.get("SHOWROOM_PUBLIC_HOST")}, f"ingress/{name}: hosts {sorted(hosts)} are not SHOWROOM_PUBLIC_HOST")
    sock_svc = services.get("gateway-sockets")
    if c.check(sock_svc is not None, "service/gateway-sockets missing"):
        c.check(dig(sock_svc, "spec", "selector") == dig(services.get("gateway") or {}, "spec", "selector"),
                "service/gateway-sockets: does not select the gateway's pods")

    # Postgres: a CNPG Cluster and a transaction-mode PgBouncer Pooler in front of its primary.
    clusters, poolers = by.get("Cluster", {}), by.get("Pooler", {})
    cluster = pooler = None
    if c.check(len(clusters) == 1, f"want one CloudNativePG Cluster, have {sorted(clusters)}"):
        cluster, cl = next(iter(clusters.items()))
        spec = cl["spec"]
        c.check(spec.get("instances", 0) >= 3, f"cluster/{cluster}: fewer than 3 instances")
        c.check(dig(spec, "storage", "size"), f"cluster/{cluster}: no storage size")
        initdb = dig(spec, "bootstrap", "initdb") or {}
        c.check(initdb.get("database") and initdb.get("owner"), f"cluster/{cluster}: bootstrap.initdb without database and owner")
        c.check(dig(spec, "monitoring", "enablePodMonitor") is True, f"cluster/{cluster}: monitoring.enablePodMonitor is not true")
        c.check("secret" not in initdb, f"cluster/{cluster}: initdb.secret set: then CNPG makes no {cluster}-app for migrate")
        roles = {r.get("name"): r for r in dig(spec, "managed", "roles") or []}
        runtime = roles.get("showroom") or {}
        c.check(runtime.get("login") and not runtime.get("superuser") and not runtime.get("createrole")
                and dig(runtime, "passwordSecret", "name"),
                f"cluster/{cluster}: no managed login role 'showroom' (no superuser, password from a Secret)")
        job = by.get("Job", {}).get("migrate")
        if job:
            env = env_map(job["spec"]["template"]["spec"]["containers"][0])
            c.check(secret_ref(env.get("SHOWROOM_DATABASE_URL")) == (f"{cluster}-app", "uri"),
                    f"job/migrate: SHOWROOM_DATABASE_URL is not {cluster}-app's uri (the rw Service)")
    if c.check(len(poolers) == 1, f"want one CloudNativePG Pooler, have {sorted(poolers)}"):
        pooler, pl = next(iter(poolers.items()))
        spec = pl["spec"]
        c.check(dig(spec, "cluster", "name") == cluster, f"pooler/{pooler}: not in front of cluster {cluster}")
        c.check(spec.get("type") == "rw", f"pooler/{pooler}: type is not rw")
        c.check(dig(spec, "pgbouncer", "poolMode") == "transaction", f"pooler/{pooler}: poolMode is not transaction")
        mps = dig(spec, "pgbouncer", "parameters", "max_prepared_statements") or "0"
        c.check(str(mps).isdigit() and int(mps) > 0,
                f"pooler/{pooler}: max_prepared_statements is not > 0 (sqlx prepares statements)")
        c.check(spec.get("instances", 1) >= 2, f"pooler/{pooler}: fewer than 2 instances")

    # Redis: one StatefulSet with AOF, a password from a Secret and a volume; Service redis.
    sts = by.get("StatefulSet", {})
    c.check(sorted(sts) == ["redis"], f"StatefulSets {sorted(sts)} != ['redis']")
    rd = sts.get("redis")
    if rd:
        pod = rd["spec"]["template"]["spec"]
        ct = pod["containers"][0]
        args = ct.get("command", []) + ct.get("args", [])
        c.check(re.fullmatch(r"(docker\.io/(library/)?)?redis:7(\.\d+)*(-[\w.]+)?", ct.get("image", "")),
                f"statefulset/redis: image {ct.get('image')!r} is not redis:7")
        c.check(any(a == "--appendonly" and b == "yes" for a, b in zip(args, args[1:])),
                "statefulset/redis: AOF is not on (--appendonly yes)")
        c.check(any(a == "--requirepass" and b == "$(REDIS_PASSWORD)" for a, b in zip(args, args[1:]))
                and secret_ref(env_map(ct).get("REDIS_PASSWORD")) == ("showroom-redis", "password"),
                "statefulset/redis: no --requirepass from Secret showroom-redis")
        data = [t for t in rd["spec"].get("volumeClaimTemplates", [])
                if any(m.get("name") == t["metadata"]["name"] and m.get("mountPath") == "/data"
                       for m in ct.get("volumeMounts", []))]
        c.check(data, "statefulset/redis: /data is not a PersistentVolumeClaim")
        sc = ct.get("securityContext", {})
        c.check(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
                and dig(sc, "capabilities", "drop") == ["ALL"] and dig(pod, "securityContext", "runAsNonRoot") is True,
                "statefulset/redis: container not locked down")
        svc = services.get("redis")
        if c.check(svc is not None, "service/redis missing"):
            labels = rd["spec"]["template"]["metadata"].get("labels", {})
            c.check(selects(svc["spec"].get("selector"), labels), "service/redis: selector does not match the pods")
            c.check(any(p.get("port") == 6379 for p in svc["spec"].get("ports", [])), "service/redis: no port 6379")

    # Monitoring: a ServiceMonitor scrapes every service's admin port at /metrics.
    sms = list(by.get("ServiceMonitor", {}).values())
    for name in SERVICES:
        svc = services.get(name)
        if not svc:
            continue
        labels = svc["metadata"].get("labels", {})
        ok = False
        for sm in sms:
            ns = sm["spec"].get("namespaceSelector") or {}
            in_ns = ns.get("any") or NAMESPACE in ns.get("matchNames", [NAMESPACE])
            if in_ns and selector_matches(sm["spec"].get("selector"), labels) and sm["spec"].get("selector"):
                ok = ok or any(e.get("port") == "admin" and e.get("path", "/metrics") == "/metrics"
                               for e in sm["spec"].get("endpoints", []))
        c.check(ok, f"servicemonitor: nothing scrapes service/{name} port admin at /metrics")
    for rule_obj in by.get("PrometheusRule", {}).values():
        for g in rule_obj["spec"].get("groups", []):
            for r in g.get("rules", []):
                check_metric_names(c, f"prometheusrule/{rule_obj['metadata']['name']}: {r.get('alert') or r.get('record')}",
                                   str(r.get("expr", "")), SHOWROOM_METRICS | {"up"} | RULE_EXTRA_METRICS)

    # Network policies.
    pods = workload_pods(by)
    check_network_policies(c, by, pods, pooler, cluster)

    # Files next to the overlay.
    if files.get("site_env"):
        check_site(c, files["site_env"], shared)
    if files.get("nats_values"):
        check_nats_values(c, files["nats_values"])
    if files.get("adapter_values"):
        check_adapter_values(c, files["adapter_values"], hpa_metrics)
    if files.get("dashboard"):
        check_dashboard(c, files["dashboard"], by.get("ConfigMap", {}).get("showroom-dashboard"))
    else:
        c.check("showroom-dashboard" in by.get("ConfigMap", {}), "ConfigMap showroom-dashboard missing")
    return pods


def rendered_secret_refs(objs):
    """(Secret name, key or None) for every Secret the rendered objects read."""
    refs = set()

    def from_pod(spec):
        for ct in spec.get("containers", []) + spec.get("initContainers", []):
            for e in ct.get("env", []):
                r = secret_ref(e)
                if r:
                    refs.add(r)
            for ef in ct.get("envFrom", []):
                if "secretRef" in ef:
                    refs.add((ef["secretRef"]["name"], None))
        for v in spec.get("volumes", []):
            if "secret" in v:
                items = v["secret"].get("items")
                for i in items or [{"key": None}]:
                    refs.add((v["secret"]["secretName"], i["key"]))
    for o in objs:
        kind, spec = o["kind"], o.get("spec") or {}
        if kind in ("Deployment", "StatefulSet", "Job"):
            from_pod(spec["template"]["spec"])
        elif kind == "Cluster":
            for r in dig(spec, "managed", "roles") or []:
                if dig(r, "passwordSecret", "name"):
                    refs.add((r["passwordSecret"]["name"], "password"))
                    refs.add((r["passwordSecret"]["name"], "username"))
        elif kind == "TriggerAuthentication":
            for s in spec.get("secretTargetRef") or []:
                refs.add((s["name"], s["key"]))
        elif kind == "Ingress":
            for t in spec.get("tls") or []:
                if t.get("secretName"):
                    refs.add((t["secretName"], "tls.crt"))
                    refs.add((t["secretName"], "tls.key"))
    return refs


def check_production_secret_example(c, path, objs):
    """The production example holds every Secret the overlay reads (one showroom-nats-<service>
    stands for all seven; CNPG makes <cluster>-app itself) and the NATS servers' showroom-trust."""
    found = set()
    for o in load(path):
        c.check(o.get("kind") == "Secret", f"{path}: {o.get('kind')} is not a Secret")
        c.check(not o.get("data"), f"{path}: use stringData with placeholders, not data")
        name = o["metadata"]["name"]
        for key, value in (o.get("stringData") or {}).items():
            found.add((name, key))
            if key != "username":
                c.check("CHANGE-ME" in str(value), f"{path}: {name}.{key} is not a CHANGE-ME placeholder")
    cnpg_generated = {f"{n}-app" for n in {o["metadata"]["name"] for o in objs if o["kind"] == "Cluster"}}
    want = set()
    for name, key in rendered_secret_refs(objs):
        if name in cnpg_generated:
            continue
        if name.startswith("showroom-nats-") and name != "showroom-nats-issuer":
            name = "showroom-nats-gateway"
        want.add((name, key))
    want.add(("showroom-trust", "nats-auth.conf"))
    keyed = {(n, k) for n, k in want if k is not None}
    c.check(keyed <= found, f"{path}: lacks {sorted(keyed - found)}")
    c.check({n for n, _ in want} >= {n for n, _ in found}, f"{path}: defines Secrets nothing reads: "
            f"{sorted({n for n, _ in found} - {n for n, _ in want})}")


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
    ap.add_argument("--profile", choices=["base", "overlay", "production"], default="base")
    ap.add_argument("--secret-example", help="example Secrets to compare with what the manifests read")
    ap.add_argument("--site-env", help="production: the operator's site.env")
    ap.add_argument("--nats-values", help="production: Helm values of the NATS chart")
    ap.add_argument("--adapter-values", help="production: Helm values of prometheus-adapter")
    ap.add_argument("--dashboard", help="production: the Grafana dashboard JSON")
    ap.add_argument("rendered")
    args = ap.parse_args()
    c = Checker()
    objs = load(args.rendered)
    files = {"site_env": args.site_env, "nats_values": args.nats_values,
             "adapter_values": args.adapter_values, "dashboard": args.dashboard}
    check_set(c, objs, args.profile, files)
    if args.secret_example and args.profile == "production":
        check_production_secret_example(c, args.secret_example, objs)
    elif args.secret_example:
        check_secret_example(c, args.secret_example)
    for n in c.notes:
        print(f"NOTE {n}")
    for f in c.failures:
        print(f"POLICY FAIL {args.rendered}: {f}")
    print(f"policy {args.rendered}: {c.passed} checks passed, {len(c.failures)} failed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
