#!/usr/bin/python3
"""Checks Kubernetes manifests against the official client's typed models (Debian's python3-kubernetes).

    validate.py FILE.yaml…   prints the documents as one JSON array; on any problem prints one line
                             per problem ("FILE doc N (Kind name): path: what") on stderr and exits 1

The Python client ignores fields it does not know when it deserializes, so this walks each document
against the models' attribute_map (JSON names) and openapi_types (types) itself: a key the model
does not have, a scalar of the wrong type, or a list/map where the model wants something else is a
problem. Required fields are checked by deserializing with the client's ApiClient, whose model
constructors refuse a missing one.
"""
import json
import re
import sys

import yaml
import kubernetes.client as k8s
from kubernetes.client import ApiClient

SCALARS = {"str": str, "int": int, "bool": bool, "float": (int, float)}


def model_class(api_version, kind):
    """apps/v1 + DaemonSet -> V1DaemonSet; v1 + ConfigMap -> V1ConfigMap; rbac.authorization.k8s.io/v1 -> V1…"""
    version = api_version.split("/")[-1]
    name = version[0].upper() + version[1:] + kind
    return getattr(k8s, name, None), name


def walk(value, type_name, path, problems):
    if type_name == "object":
        return  # IntOrString, RawExtension, …: anything goes
    m = re.fullmatch(r"list\[(.+)\]", type_name)
    if m:
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list ({type_name}), found {type(value).__name__}")
            return
        for i, item in enumerate(value):
            walk(item, m.group(1), f"{path}[{i}]", problems)
        return
    m = re.fullmatch(r"dict\(str, (.+)\)", type_name)
    if m:
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a map ({type_name}), found {type(value).__name__}")
            return
        for k, v in value.items():
            walk(v, m.group(1), f"{path}.{k}", problems)
        return
    if type_name in SCALARS:
        want = SCALARS[type_name]
        if isinstance(value, bool) and type_name != "bool":
            problems.append(f"{path}: expected {type_name}, found a boolean")
        elif not isinstance(value, want):
            problems.append(f"{path}: expected {type_name}, found {type(value).__name__} {value!r}")
        return
    if type_name == "datetime":
        return
    cls = getattr(k8s, type_name, None)
    if cls is None:
        problems.append(f"{path}: the client has no model {type_name}")
        return
    if not isinstance(value, dict):
        problems.append(f"{path}: expected an object ({type_name}), found {type(value).__name__}")
        return
    by_json = {j: a for a, j in cls.attribute_map.items()}
    for key, v in value.items():
        attr = by_json.get(key)
        if attr is None:
            close = [j for j in by_json if j.lower() == key.lower()]
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{path}.{key}: {type_name} has no field {key}{hint}")
            continue
        walk(v, cls.openapi_types[attr], f"{path}.{key}", problems)


class _Response:
    def __init__(self, doc):
        self.data = json.dumps(doc)


def check(doc):
    problems = []
    if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
        return ["not a Kubernetes object (no apiVersion/kind)"]
    cls, name = model_class(doc["apiVersion"], doc["kind"])
    if cls is None:
        return [f"apiVersion {doc['apiVersion']} kind {doc['kind']}: the client has no model {name}"]
    walk(doc, name, "", problems)
    try:
        ApiClient().deserialize(_Response(doc), name)
    except (ValueError, TypeError) as e:
        problems.append(f"deserializing as {name}: {e}")
    return problems


def main(files):
    docs, bad = [], []
    for f in files:
        with open(f) as fh:
            for i, doc in enumerate(yaml.safe_load_all(fh)):
                if doc is None:
                    continue
                label = f"{f} doc {i} ({doc.get('kind', '?') if isinstance(doc, dict) else '?'} {((doc.get('metadata') or {}).get('name', '?')) if isinstance(doc, dict) else ''})"
                bad += [f"{label}: {p}" for p in check(doc)]
                docs.append(doc)
    print(json.dumps(docs))
    for line in bad:
        print(line, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
