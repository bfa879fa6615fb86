#!/usr/bin/env python3
"""Generate tests/data/emit_cases.json: values and exactly what Ansible's to_yaml and
to_nice_yaml filters write for them (AnsibleDumper, i.e. libyaml's emitter).

Run with the venv's python:
    /work/ansible-venv/bin/python agent/yaml/tests/gen_emit.py
"""
import json
import math
import os
import sys

from ansible.plugins.filter.core import to_nice_yaml, to_yaml

LONG = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua."

STRINGS = [
    "x", "hello world", "yes", "no", "on", "off", "true", "False", "y", "n", "null", "Null", "~", "",
    " ", "  lead", "trail ", "123", "0644", "0x1F", "1_000", "1:30", "1.5", "1e3", "1.0e+3", ".inf",
    "-.inf", ".nan", "2001-12-14", "2001-12-14 21:59:43.10 -5", "<<", "=", "-", "- x", "-x", "?", "? x",
    ":", "a:b", "a: b", "a :b", "#x", "x #y", "x#y", "@x", "`x`", "%x", "!x", "&x", "*x", "|x", ">x",
    "'quoted'", '"dq"', "it's", 'say "hi"', "[x]", "x]", "{x}", "x,y", "---", "...x", "--x",
    "a\nb", "a\n", "\na", "a\n\nb", "a \nb", "a\n b", "line1\nline2\nline3\n", "tab\there", "\t",
    "back\\slash", "caf\u00e9", "\u00a0nbsp", "snow\u2603man", "emoji \U0001F600", "ctrl\x01",
    "\x7f", "bell\x07", "nel\x85", "ls\u2028ps\u2029", "bom\ufeff", "\u00e9\u00e8",
    "{{ item }}", "{{ a | default('b') }}", "{% if x %}y{% endif %}", "C:\\temp", "/etc/passwd",
    "http://example.com:8080/x?y=1&z=2", "user@host", "50%", "a  b", "a   b   c",
    LONG, LONG + " " + LONG, "x" * 100, "x" * 100 + " y" * 30, ("word " * 40).strip(),
    LONG + "\n" + LONG, "'" + LONG + "'", LONG.replace(" ", "  "), "a" * 79 + " " + "b" * 10,
    "tab\t" + LONG, "é" * 90 + " x",
]

VALUES = [
    None, True, False, 0, 1, -1, 42, 2**40, -2**63, 1.0, 0.5, -2.5, 1e16, 1.5e-5, 1e-4,
    123456789.125, float("inf"), float("-inf"), float("nan"), 0.1, 100.0, 3.14159265358979,
    [], {}, [1, 2, 3], ["a", "yes", 1.5, None, True], {"a": 1}, {"b": 1, "a": 2},
    {"key": [1, 2], "other": {"x": "y"}}, [[1, 2], [3]], [{"a": 1, "b": [1, {"c": 2}]}, "x"],
    {"a": [1, {"b": [2, [3]]}], "c": {"d": {}}},
    {"z": 1, "a": 2, "m": {"y": [], "x": {}}},
    {1: "int key", 2: "two"}, {"yes": "bool-like key", "null": 1, "": "empty key"},
    {"x" * 130: 1}, {"multi\nline key": 1}, {"key with spaces": "v", "colon: key": "v"},
    {"list": [[[]]], "deep": {"a": {"b": {"c": {"d": [1, {"e": "f"}]}}}}},
    {"msg": LONG, "items": [LONG, "short"]},
    [LONG, {"k": LONG}],
    {"ansible_facts": {"distribution": "Ubuntu", "distribution_version": "22.04",
                       "interfaces": ["lo", "eth0"], "memtotal_mb": 2048,
                       "mounts": [{"mount": "/", "size_total": 1.0e10, "options": "rw,relatime"}]}},
    {"users": [{"name": "alice", "groups": ["wheel", "docker"], "shell": "/bin/bash", "uid": 1001},
               {"name": "bob", "groups": [], "shell": None, "uid": "1002"}]},
    {"a": "x\ny", "b": ["p\nq", "r"]},
    [["a", ["b", ["c"]]]],
    {"mixed": [1, "two", [3], {"four": 4}]},
    {"empty_string": "", "space": " ", "zero": 0, "false": False},
    [None, [None], {"k": None}],
    {"unicode_κλειδί": "τιμή", "emoji": "\U0001F600"},
    {2: "b", 1: "a", 10: "c"},
    {"b": 1, 1: "mixed key types"},
]


def encode(v):
    if v is None or isinstance(v, bool) or isinstance(v, str):
        return v
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        if math.isnan(v):
            return {"float": "nan"}
        if math.isinf(v):
            return {"float": "inf" if v > 0 else "-inf"}
        return {"float": repr(v)}
    if isinstance(v, dict):
        return {"map": [[encode(k), encode(x)] for k, x in v.items()]}
    if isinstance(v, list):
        return [encode(x) for x in v]
    raise TypeError(type(v))


def main():
    cases = []
    values = STRINGS + VALUES
    values += [{"k": s} for s in STRINGS]
    values += [[s] for s in STRINGS]
    values += [{s: 1} for s in STRINGS if s]
    for v in values:
        cases.append({
            "value": encode(v),
            "to_yaml": to_yaml(v),
            "to_nice_yaml": to_nice_yaml(v),
        })
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "emit_cases.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(cases)} cases -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
