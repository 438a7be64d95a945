#!/usr/bin/env python3
"""Validates rendered manifests against JSON schemas, strictly, offline (run by k8s/validate.sh).

    schema_check.py [-k VERSION]... [--schemas DIR] FILE...

Every object of every FILE (multi-document YAML) is validated:
- a built-in kind (one kubernetes-validate ships a schema for) against that Kubernetes
  version's *strict* schema from PyPI's kubernetes-validate: an unknown field is an error;
- any other kind (a CRD: ServiceMonitor, ScaledObject, CNPG Cluster, ...) against the schema
  vendored in DIR (default: k8s/schemas next to this file), named
  `<kind>-<group>-<version>.json` in lower case, e.g. `scaledobject-keda.sh-v1alpha1.json`.
  Those schemas may `$ref` the Kubernetes definitions of the same version (ObjectMeta,
  PodTemplateSpec, ...). A kind with no schema anywhere is an error, never a warning.

Prints one line per problem and a final `schemas: N passed, M failed` line; exit status 1
on any problem. Needs kubernetes-validate (and so jsonschema, referencing, PyYAML).
"""

import argparse
import json
import os
import re
import sys

import importlib_resources
import jsonschema
import yaml
from referencing import Registry, Resource

HERE = os.path.dirname(os.path.abspath(__file__))


class Schemas:
    def __init__(self, version, vendored_dir):
        self.version = version
        self.vendored_dir = vendored_dir
        root = importlib_resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
        wanted = tuple(int(x) for x in version.split(".")[:2])
        have = sorted(
            (tuple(int(x) for x in m.group(1).split(".")[:2]), p.name)
            for p in root.iterdir()
            if (m := re.match(r"^v(\d+\.\d+\.\d+)-local-strict$", p.name))
        )
        usable = [name for v, name in have if v <= wanted]
        if not usable:
            raise SystemExit(f"kubernetes-validate has no schemas for Kubernetes {version}")
        self.dir = root.joinpath(usable[-1])
        self.defs = Resource.from_contents(json.loads(self.dir.joinpath("_definitions.json").read_text()))
        self.cache = {}

    def _load(self, apiversion, kind):
        key = (apiversion, kind)
        if key in self.cache:
            return self.cache[key]
        group, _, ver = apiversion.rpartition("/")
        # kubernetes-validate's names: <kind>-<first label of the group>-<version>, core: <kind>-<version>
        builtin_name = f"{kind.lower()}-{group.split('.')[0] + '-' if group else ''}{ver}.json"
        builtin = self.dir.joinpath(builtin_name)
        found = None
        if builtin.is_file():
            found = ("kubernetes", json.loads(builtin.read_text()))
        else:
            name = f"{kind.lower()}-{group + '-' if group else ''}{ver}.json"
            path = os.path.join(self.vendored_dir, name)
            if os.path.isfile(path):
                with open(path) as f:
                    found = (os.path.relpath(path), json.load(f))
            else:
                found = (None, name)
        if found[0] is not None:
            schema = found[1]
            registry = Registry().with_resources([
                ("https://kubernetes.io/api/_definitions.json", self.defs),
            ])
            # kubernetes-validate's own schemas refer to "/api/_definitions.json" relative to
            # their $id (https://kubernetes.io/api/...); ours use the absolute URI.
            registry = Resource.from_contents(schema) @ registry
            found = (found[0], jsonschema.Draft202012Validator(schema, registry=registry))
        self.cache[key] = found
        return found

    def validate(self, doc):
        """Yields (source, message) for each problem; source is the schema used."""
        api, kind = doc.get("apiVersion"), doc.get("kind")
        if not isinstance(api, str) or not isinstance(kind, str):
            yield None, "no apiVersion/kind"
            return
        source, validator = self._load(api, kind)
        if source is None:
            yield None, (f"no schema for {kind} ({api}): neither Kubernetes {self.version} nor "
                         f"k8s/schemas/{validator} has one; vendor the CRD's schema there")
            return
        for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in err.absolute_path) or "(top)"
            if err.validator == "not" and isinstance(err.schema, dict) and err.schema.get("x-showroom-trimmed"):
                msg = (f"{where}: this field exists upstream but is trimmed from {source}; "
                       "add its definition (from the upstream CRD) before using it")
            else:
                msg = f"{where}: {err.message}"
            yield source, msg


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", "--kubernetes-version", action="append", dest="versions")
    ap.add_argument("--schemas", default=os.path.join(HERE, "schemas"))
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    versions = args.versions or ["1.30.0"]
    checkers = [Schemas(v, args.schemas) for v in versions]
    passed = failed = 0
    for path in args.files:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for doc in docs:
            name = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
            for checker in checkers:
                problems = list(checker.validate(doc))
                if problems:
                    failed += 1
                    for source, msg in problems:
                        print(f"SCHEMA FAIL {path}: {name} (Kubernetes {checker.version}"
                              f"{', ' + source if source and source != 'kubernetes' else ''}): {msg}")
                else:
                    passed += 1
    print(f"schemas: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
