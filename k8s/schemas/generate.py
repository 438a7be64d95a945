#!/usr/bin/env python3
"""Writes k8s/schemas/*.json: strict, trimmed JSON schemas of the CRD kinds the overlays use.

    python3 k8s/schemas/generate.py [OUT_DIR]      # default: the directory of this file

k8s/schema_check.py validates every rendered object whose kind Kubernetes itself does not
define against `<kind>-<group>-<version>.json` here; k8s/validate.sh fails when the JSON files
differ from what this script writes, so edit this script, not the JSON.

Each schema follows its upstream CRD (named in `x-showroom-source`), level by level, with
`additionalProperties: false` wherever the upstream schema is structural, so an unknown or
misspelt field fails. It is trimmed: a property of the upstream CRD that these manifests do
not use is still listed by name but rejected as "trimmed" (copy its definition from the
upstream CRD into this script before using it). Core types embedded by the CRDs (ObjectMeta,
LabelSelector, PodTemplateSpec, HPA behavior, ...) refer to the strict Kubernetes definitions
that kubernetes-validate bundles for the version being checked. One addition to upstream: the
`metadata` of a KEDA trigger (a free string map upstream) only takes the parameter names of
its trigger type, for the types used here.
"""
import json
import os
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
K8S = "https://kubernetes.io/api/_definitions.json#/$defs/"


def k8s(name):
    return {"$ref": K8S + name}


TRIMMED = {"$ref": "#/$defs/trimmed"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
INT = {"type": "integer"}
INT32 = {"type": "integer", "minimum": -2147483648, "maximum": 2147483647}
STRMAP = {"type": "object", "additionalProperties": {"type": "string"}}
DURATION = {"type": "string", "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}


def obj(props, required=(), trimmed=()):
    p = dict(props)
    for t in trimmed:
        assert t not in p, t
        p[t] = TRIMMED
    o = {"type": "object", "additionalProperties": False, "properties": dict(sorted(p.items()))}
    if required:
        o["required"] = list(required)
    return o


def arr(items, **kw):
    return {"type": "array", "items": items, **kw}


def enum(*vals):
    return {"type": "string", "enum": list(vals)}


def top(group_version, kind, spec, source, spec_required=True, extra_defs=None):
    defs = {
        "trimmed": {
            "description": "Present in the upstream CRD but trimmed from this vendored schema: "
                           "add its definition from the upstream CRD before using it.",
            "x-showroom-trimmed": True,
            "not": {},
        }
    }
    defs.update(extra_defs or {})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://showroom.local/schemas/{kind.lower()}-{group_version.replace('/', '-')}.json",
        "title": f"{kind} ({group_version})",
        "description": f"Trimmed from {source}. Strict: unknown fields fail; fields of the upstream CRD "
                       "that Showroom does not use are listed and rejected as trimmed.",
        "x-showroom-source": source,
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata"] + (["spec"] if spec_required else []),
        "properties": {
            "apiVersion": {"type": "string", "enum": [group_version]},
            "kind": {"type": "string", "enum": [kind]},
            "metadata": k8s("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
            "spec": spec,
            "status": TRIMMED,
        },
        "$defs": defs,
    }


schemas = {}

# ---------------------------------------------------------------- prometheus-operator ----
PO = "prometheus-operator example/prometheus-operator-crd/monitoring.coreos.com_{}.yaml (v0.8x)"
relabel = obj({
    "action": {"type": "string", "enum": [
        "replace", "Replace", "keep", "Keep", "drop", "Drop", "hashmod", "HashMod", "labelmap", "LabelMap",
        "labeldrop", "LabelDrop", "labelkeep", "LabelKeep", "lowercase", "Lowercase", "uppercase", "Uppercase",
        "keepequal", "KeepEqual", "dropequal", "DropEqual"]},
    "modulus": {"type": "integer", "minimum": 0},
    "regex": STR,
    "replacement": STR,
    "separator": STR,
    "sourceLabels": arr({"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"}),
    "targetLabel": STR,
})
endpoint = obj({
    "honorLabels": BOOL,
    "honorTimestamps": BOOL,
    "interval": DURATION,
    "metricRelabelings": arr(relabel),
    "path": STR,
    "port": STR,
    "relabelings": arr(relabel),
    "scheme": {"type": "string", "enum": ["http", "https", "HTTP", "HTTPS"]},
    "scrapeTimeout": DURATION,
    "targetPort": k8s("io.k8s.apimachinery.pkg.util.intstr.IntOrString"),
    "params": {"type": "object", "additionalProperties": arr(STR)},
    "filterRunning": BOOL,
    "followRedirects": BOOL,
    "enableHttp2": BOOL,
    "trackTimestampsStaleness": BOOL,
}, trimmed=["authorization", "basicAuth", "bearerTokenFile", "bearerTokenSecret", "oauth2", "proxyUrl",
            "noProxy", "proxyFromEnvironment", "proxyConnectHeader", "tlsConfig"])
schemas["servicemonitor-monitoring.coreos.com-v1"] = top(
    "monitoring.coreos.com/v1", "ServiceMonitor",
    obj({
        "endpoints": arr(endpoint),
        "jobLabel": STR,
        "namespaceSelector": obj({"any": BOOL, "matchNames": arr(STR)}),
        "podTargetLabels": arr(STR),
        "sampleLimit": {"type": "integer", "minimum": 0},
        "selector": k8s("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"),
        "targetLabels": arr(STR),
        "targetLimit": {"type": "integer", "minimum": 0},
        "labelLimit": {"type": "integer", "minimum": 0},
        "labelNameLengthLimit": {"type": "integer", "minimum": 0},
        "labelValueLengthLimit": {"type": "integer", "minimum": 0},
        "scrapeClass": {"type": "string", "minLength": 1},
    }, required=["selector"], trimmed=[
        "attachMetadata", "bodySizeLimit", "keepDroppedTargets", "nativeHistogramBucketLimit",
        "nativeHistogramMinBucketFactor", "scrapeClassicHistograms", "scrapeProtocols",
        "fallbackScrapeProtocol", "convertClassicHistogramsToNHCB", "selectorMechanism",
        "serviceDiscoveryRole"]),
    PO.format("servicemonitors"))

rule = obj({
    "alert": STR,
    "annotations": STRMAP,
    "expr": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]},
    "for": DURATION,
    "keep_firing_for": {"type": "string", "minLength": 1},
    "labels": STRMAP,
    "record": STR,
}, required=["expr"])
rule["oneOf"] = [{"required": ["alert"], "not": {"required": ["record"]}},
                 {"required": ["record"], "not": {"required": ["alert"]}}]
schemas["prometheusrule-monitoring.coreos.com-v1"] = top(
    "monitoring.coreos.com/v1", "PrometheusRule",
    obj({
        "groups": arr(obj({
            "interval": DURATION,
            "labels": STRMAP,
            "limit": {"type": "integer"},
            "name": {"type": "string", "minLength": 1},
            "partial_response_strategy": {"type": "string", "pattern": "^(?i)(abort|warn)?$"},
            "query_offset": DURATION,
            "rules": arr(rule),
        }, required=["name"])),
    }),
    PO.format("prometheusrules"))

# ---------------------------------------------------------------------------- KEDA ---------
KEDA = "kedacore/keda config/crd/bases/keda.sh_{}.yaml (v2.1x)"
trigger_params = {
    # Showroom addition: the upstream CRD types metadata as map[string]string; the parameter
    # names of the trigger types used here are listed so that a misspelt one fails.
    "nats-jetstream": ["natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold",
                       "activationLagThreshold", "useHttps"],
    "prometheus": ["serverAddress", "query", "queryParameters", "threshold", "activationThreshold",
                   "namespace", "customHeaders", "ignoreNullValues", "unsafeSsl", "authModes", "timeout"],
    "cpu": ["value", "containerName", "type"],
    "memory": ["value", "containerName", "type"],
}
trigger = obj({
    "authenticationRef": obj({"kind": enum("TriggerAuthentication", "ClusterTriggerAuthentication"), "name": STR},
                             required=["name"]),
    "metadata": STRMAP,
    "metricType": enum("AverageValue", "Value", "Utilization"),
    "name": STR,
    "type": STR,
    "useCachedMetrics": BOOL,
}, required=["metadata", "type"])
trigger["allOf"] = [
    {"if": {"properties": {"type": {"const": t}}, "required": ["type"]},
     "then": {"properties": {"metadata": {"type": "object", "propertyNames": {"enum": keys}}}}}
    for t, keys in trigger_params.items()
]
schemas["scaledobject-keda.sh-v1alpha1"] = top(
    "keda.sh/v1alpha1", "ScaledObject",
    obj({
        "advanced": obj({
            "horizontalPodAutoscalerConfig": obj({
                "behavior": k8s("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerBehavior"),
                "name": STR,
            }),
            "restoreToOriginalReplicaCount": BOOL,
        }, trimmed=["scalingModifiers"]),
        "cooldownPeriod": INT32,
        "idleReplicaCount": INT32,
        "initialCooldownPeriod": INT32,
        "maxReplicaCount": INT32,
        "minReplicaCount": INT32,
        "pollingInterval": INT32,
        "scaleTargetRef": obj({"apiVersion": STR, "envSourceContainerName": STR, "kind": STR, "name": STR},
                              required=["name"]),
        "triggers": arr(trigger),
    }, required=["scaleTargetRef", "triggers"], trimmed=["fallback"]),
    KEDA.format("scaledobjects"))

schemas["triggerauthentication-keda.sh-v1alpha1"] = top(
    "keda.sh/v1alpha1", "TriggerAuthentication",
    obj({
        "secretTargetRef": arr(obj({"key": STR, "name": STR, "parameter": STR}, required=["key", "name", "parameter"])),
        "env": arr(obj({"containerName": STR, "name": STR, "parameter": STR}, required=["name", "parameter"])),
    }, trimmed=["azureKeyVault", "awsSecretManager", "boundServiceAccountToken", "configMapTargetRef",
                "gcpSecretManager", "hashiCorpVault", "podIdentity", "filePath"]),
    KEDA.format("triggerauthentications"))

# ---------------------------------------------------------------------- CloudNativePG ------
CNPG = "cloudnative-pg/cloudnative-pg config/crd/bases/postgresql.cnpg.io_{}.yaml (v1.2x)"
local_ref = obj({"name": STR}, required=["name"])
secret_key = obj({"key": STR, "name": STR}, required=["key"])
schemas["cluster-postgresql.cnpg.io-v1"] = top(
    "postgresql.cnpg.io/v1", "Cluster",
    obj({
        "affinity": obj({
            "enablePodAntiAffinity": BOOL,
            "nodeSelector": STRMAP,
            "podAntiAffinityType": enum("preferred", "required"),
            "tolerations": arr(k8s("io.k8s.api.core.v1.Toleration")),
            "topologyKey": STR,
        }, trimmed=["additionalPodAffinity", "additionalPodAntiAffinity", "nodeAffinity"]),
        "bootstrap": obj({
            "initdb": obj({
                "database": STR,
                "owner": STR,
                "secret": local_ref,
                "dataChecksums": BOOL,
                "encoding": STR,
                "localeCType": STR,
                "localeCollate": STR,
                "locale": STR,
                "postInitSQL": arr(STR),
                "postInitApplicationSQL": arr(STR),
                "postInitTemplateSQL": arr(STR),
                "walSegmentSize": {"type": "integer", "minimum": 1, "maximum": 1024},
            }, trimmed=["builtinLocale", "icuLocale", "icuRules", "import", "localeProvider", "options",
                        "postInitApplicationSQLRefs", "postInitSQLRefs", "postInitTemplateSQLRefs"]),
        }, trimmed=["pg_basebackup", "recovery"]),
        "description": STR,
        "enablePDB": BOOL,
        "enableSuperuserAccess": BOOL,
        "imageName": STR,
        "imagePullPolicy": enum("Always", "Never", "IfNotPresent"),
        "inheritedMetadata": obj({"annotations": STRMAP, "labels": STRMAP}),
        "instances": {"type": "integer", "minimum": 1},
        "logLevel": enum("error", "warning", "info", "debug", "trace"),
        "managed": obj({
            "roles": arr(obj({
                "bypassrls": BOOL,
                "comment": STR,
                "connectionLimit": {"type": "integer"},
                "createdb": BOOL,
                "createrole": BOOL,
                "disablePassword": BOOL,
                "ensure": enum("present", "absent"),
                "inRoles": arr(STR),
                "inherit": BOOL,
                "login": BOOL,
                "name": STR,
                "passwordSecret": local_ref,
                "replication": BOOL,
                "superuser": BOOL,
                "validUntil": {"type": "string", "format": "date-time"},
            }, required=["name"])),
        }, trimmed=["services"]),
        "maxSyncReplicas": {"type": "integer", "minimum": 0},
        "minSyncReplicas": {"type": "integer", "minimum": 0},
        "monitoring": obj({
            "customQueriesConfigMap": arr(secret_key),
            "customQueriesSecret": arr(secret_key),
            "disableDefaultQueries": BOOL,
            "enablePodMonitor": BOOL,
        }, trimmed=["podMonitorMetricRelabelings", "podMonitorRelabelings", "tls"]),
        "postgresql": obj({
            "parameters": STRMAP,
            "pg_hba": arr(STR),
            "pg_ident": arr(STR),
            "shared_preload_libraries": arr(STR),
            "promotionTimeout": INT32,
            "enableAlterSystem": BOOL,
        }, trimmed=["extensions", "ldap", "syncReplicaElectionConstraint", "synchronous"]),
        "primaryUpdateMethod": enum("switchover", "restart"),
        "primaryUpdateStrategy": enum("unsupervised", "supervised"),
        "priorityClassName": STR,
        "resources": k8s("io.k8s.api.core.v1.ResourceRequirements"),
        "smartShutdownTimeout": INT32,
        "startDelay": INT32,
        "stopDelay": INT32,
        "storage": obj({
            "resizeInUseVolumes": BOOL,
            "size": STR,
            "storageClass": STR,
        }, trimmed=["pvcTemplate"]),
        "switchoverDelay": INT32,
        "topologySpreadConstraints": arr(k8s("io.k8s.api.core.v1.TopologySpreadConstraint")),
        "walStorage": obj({"resizeInUseVolumes": BOOL, "size": STR, "storageClass": STR}, trimmed=["pvcTemplate"]),
    }, required=["instances"], trimmed=[
        "backup", "certificates", "env", "envFrom", "ephemeralVolumeSource", "ephemeralVolumesSizeLimit",
        "externalClusters", "failoverDelay", "imageCatalogRef", "imagePullSecrets", "livenessProbeTimeout",
        "nodeMaintenanceWindow", "plugins", "podSecurityContext", "postgresGID", "postgresUID", "probes",
        "projectedVolumeTemplate", "replica", "replicationSlots", "schedulerName", "seccompProfile",
        "securityContext", "serviceAccountName", "serviceAccountTemplate", "superuserSecret", "tablespaces"]),
    CNPG.format("clusters"))

schemas["pooler-postgresql.cnpg.io-v1"] = top(
    "postgresql.cnpg.io/v1", "Pooler",
    obj({
        "cluster": local_ref,
        "deploymentStrategy": k8s("io.k8s.api.apps.v1.DeploymentStrategy"),
        "instances": {"type": "integer", "minimum": 0},
        "monitoring": obj({"enablePodMonitor": BOOL},
                          trimmed=["podMonitorMetricRelabelings", "podMonitorRelabelings"]),
        "pgbouncer": obj({
            "authQuery": STR,
            "authQuerySecret": local_ref,
            "parameters": STRMAP,
            "paused": BOOL,
            "pg_hba": arr(STR),
            "poolMode": enum("session", "transaction"),
        }),
        # Upstream embeds the whole PodTemplateSpec; CNPG lets `containers` be empty (it adds
        # pgbouncer), which the core schema would allow too.
        "template": k8s("io.k8s.api.core.v1.PodTemplateSpec"),
        "type": enum("rw", "ro", "r"),
    }, required=["cluster", "pgbouncer"], trimmed=["serviceTemplate"]),
    CNPG.format("poolers"))

os.makedirs(OUT, exist_ok=True)
for name, s in schemas.items():
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(s, f, indent=2)
        f.write("\n")
    print("wrote", os.path.join(OUT, name + ".json"))
