#!/usr/bin/env python3
"""Regenerates k8s_extensions.json: the Kubernetes OpenAPI vendor extensions
(list types, map keys, patch strategies, merge keys, map types) that
k8s-openapi's schemars schemas leave out.

Source: the `kubernetes-validate` wheel from PyPI, whose JSON schemas are
converted from the upstream Kubernetes OpenAPI spec and keep the extensions:

    pip download --no-deps kubernetes-validate==1.37.0 && unzip kubernetes_validate-*.whl
    python3 gen_k8s_extensions.py kubernetes_validate/kubernetes-json-schema/v1.33.0-local/_definitions.json
"""
import json
import sys

KEYS = (
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-patch-strategy",
    "x-kubernetes-patch-merge-key",
)


def pick(schema):
    return {k: schema[k] for k in KEYS if k in schema}


def main(path):
    defs = json.load(open(path))["$defs"]
    out = {}
    for name in sorted(defs):
        d = defs[name]
        entry = {}
        own = pick(d)
        if own:
            entry["."] = own
        for prop, ps in sorted(d.get("properties", {}).items()):
            ext = pick(ps)
            if ext:
                entry[prop] = ext
        if entry:
            out[name] = entry
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
