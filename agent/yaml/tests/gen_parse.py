#!/usr/bin/env python3
"""Generate tests/data/parse_cases.json: YAML snippets and what Ansible's loader makes
of them (typed), or where it reports an error.

Run with the venv's python (ansible-core + PyYAML with libyaml):
    /work/ansible-venv/bin/python agent/yaml/tests/gen_parse.py
"""
import json
import math
import os
import sys

import yaml
from ansible._internal._yaml import _constructor
from ansible._internal._yaml._loader import AnsibleLoader
from ansible._internal._datatag._tags import Origin, TrustedAsTemplate
from ansible.parsing.vault import EncryptedString

WARNINGS = []


def _warning(msg, obj=None, help_text=None, **_kw):
    origin = Origin.get_tag(obj) if obj is not None else None
    WARNINGS.append([origin.line_num if origin else 0, origin.col_num if origin else 0, msg])


_constructor.display.warning = _warning

SCALARS = [
    # booleans (YAML 1.1) and near misses
    "yes", "Yes", "YES", "yEs", "no", "No", "NO", "true", "True", "TRUE", "tRUE",
    "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N",
    "'yes'", '"no"', "!!str yes", "!!bool YES", "!!bool 'on'",
    # null
    "~", "null", "Null", "NULL", "nULL", "", "'~'", "!!null x", "'null'",
    # ints
    "0", "-0", "+0", "12", "+12", "-12", "0644", "-0644", "08", "09", "0o17", "0x1F", "0x1f",
    "-0x10", "0X1F", "0b101", "-0b11", "0b2", "1_000", "1__0", "_1", "1:30", "1:30:00", "-1:00",
    "1:60", "1:5", "0:30", "9223372036854775807", "-9223372036854775808",
    "'12'", '"0644"', "!!int '0x10'", "!!int 42", "!!str 42", "!!float 1", "!!float '1e3'",
    "1 2", "12a", "+", "-", "1-2",
    # floats
    "1.5", "-1.5", "+1.5", "1.", "-1.", ".5", "-.5", "+.5", "1e3", "1E3", "1.0e5", "1.0e+5",
    "1.0E-5", "6.8523015e+5", "685.230_15e+03", "1_0.5", "190:20:30.15", "-1:30.5",
    ".inf", ".Inf", ".INF", "-.inf", "+.inf", ".inF", "inf", "-inf", ".nan", ".NaN", ".NAN",
    "-.nan", "nan", "1.2.3", "1.5e", "0.1", "100.0", "1e-5", "3.14159265358979",
    "'1.5'", "0.", "00.5", "1_000.000_1",
    # timestamps stay strings here
    "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5",
    # strings of many shapes
    "hello", "hello world", "'single quoted'", '"double \\"quoted\\""', "'it''s'",
    '"tab\\there"', '"\\u00e9t\\u00e9"', '"\\x41\\n"', "café", "{{ item }}x", "'{{ item }}'",
    '"{{ item }}"', "a: b" if False else "'a: b'", "foo#bar", "foo # comment", "-foo", "?foo",
    "<<", "'<<'", "@@" if False else "'@x'", "!unsafe '{{ x }}'", "!unsafe 12",
    "!unsafe yes", "!unsafe \"12\"", "! 12", "! yes",
    "|\n  line1\n  line2\n", "|-\n  line1\n  line2\n", "|+\n  line1\n\n", ">\n  folded\n  text\n\n  para\n",
    ">-\n  folded\n  text\n", "|2\n    indented\n", "\"multi\n  line\"", "plain\n  continued",
    "!vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n",
]

DOCS = [
    ("playbook", """\
- name: Install things
  hosts: all
  become: yes
  vars:
    port: 8080
    mode: 0644
    enabled: on
  tasks:
    - name: copy
      copy:
        src: a.conf
        dest: /etc/a.conf
        mode: "0644"
      notify: restart
      when: ansible_os_family == "Debian"
    - debug: msg="{{ port }}"
      tags: [a, b]
  handlers:
    - name: restart
      service: name=x state=restarted
"""),
    ("role_defaults", """\
---
# defaults
nginx_port: 80
nginx_user: www-data
nginx_workers: auto
nginx_sites: []
nginx_opts: {}
nginx_list:
  - one
  - two: 2
    three: 3
  -
  - - nested
    - 1.5
"""),
    ("indentless_seq", "key:\n- a\n- b\nother: 1\n"),
    ("flow", "{a: 1, b: [x, y, {c: d}], 'e': \"f\", g: , h}\n"),
    ("flow_seq_pairs", "[a: 1, b, c: d]\n"),
    ("anchors", "base: &base\n  a: 1\n  b: [1, 2]\nother: *base\nlist: [&x 5, *x, *x]\n"),
    ("merge_one", "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  z: 3\n"),
    ("merge_override", "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  x: 3\n"),
    ("merge_list_short", "b: &b {x: 1, y: 2}\nc: &c {y: 5, z: 6}\nm:\n  <<: [*b, *c]\n  x: 3\n"),
    ("merge_list_long", "b: &b {xx: 1, yy: 2}\nc: &c {yy: 5, zz: 6}\nm:\n  <<: [*b, *c]\n  xx: 3\n"),
    ("merge_twice", "b: &b {xx: 1, yy: 2}\nc: &c {yy: 5, zz: 6}\nn:\n  <<: *b\n  <<: *c\n"),
    ("merge_first", "b: &b {k: 1}\nm:\n  j: 0\n  <<: *b\n"),
    ("merge_quoted_key", "m:\n  '<<': {a: 1}\n"),
    ("dup_keys", "a: 1\nb: 2\na: 3\n"),
    ("dup_int_keys", "1: a\n1: b\n"),
    ("typed_keys", "1: int\nyes: bool\n1.5: float\n~: null\n'2': str\n0x10: hex\n"),
    ("dup_bool_int", "1: a\ntrue: b\n"),
    ("multi_doc", "---\na: 1\n---\nb: 2\n...\n---\n- 3\n"),
    ("empty_doc", "---\n"),
    ("comment_only", "# nothing\n"),
    ("empty", ""),
    ("doc_end_only", "a: 1\n...\n"),
    ("unsafe_map", "x: !unsafe\n  a: '{{ b }}'\n  c: [d, 1]\n"),
    ("unsafe_seq", "x: !unsafe ['{{ a }}', yes]\n"),
    ("tagged_collections", "a: !!map {x: 1}\nb: !!seq [1]\nc: !!str 1.5\nd: !!set {p}\n"),
    ("long_string", "msg: " + "word " * 30 + "end\n"),
    ("jinja_block", "- set_fact:\n    x: >-\n      {% if a %}\n      b\n      {% endif %}\n"),
    ("key_with_spaces", "a key with spaces: value\n\"quoted key\": v\n? complex\n: value\n"),
    ("unicode", "name: \"\\u263A\"\nemoji: 😀\nkey_é: é\n"),
    ("crlf", "a: 1\r\nb: two\r\n"),
    ("bom", "\ufeffa: 1\n"),
    ("tabs_in_value", "a: x\ty\n"),
    ("deep", "a:\n  b:\n    c:\n      d:\n        e: [1, {f: g}]\n"),
    ("colon_in_value", "url: http://example.com:8080/path\ntime: 12:30\n"),
    ("windows_path", "p: C:\\\\temp\nq: 'C:\\temp'\n"),
    ("special_plain", "a: -1\nb: - x\n" if False else "a: -1\nb: x-y\nc: a,b\nd: a]b\n"),
    ("block_seq_of_seq", "- - a\n  - b\n- - c\n"),
    ("explicit_key_seq", "? - a\n  - b\n: v\n" if False else "x:\n  ? a\n  : b\n"),
    ("null_values", "a:\nb: ~\nc: null\nd: ''\n"),
    ("literal_keep", "a: |+\n  x\n\n\nb: 1\n"),
    ("folded_more_indent", "a: >\n  p1\n    indented\n  p2\n"),
    ("alias_key", "a: &k key\n*k : value\n"),
    ("anchor_redefine", "a: &x 1\nb: &x 2\nc: *x\n"),
    ("directive", "%YAML 1.1\n---\na: 1\n"),
    ("escapes", "a: \"\\t\\n\\\\\\\"\\/\"\nb: '\\n'\n"),
    ("number_keys_order", "z: 1\na: 2\nm: 3\n"),
    ("value_key", "=: x\n"),
]

ERRORS = [
    ("err_tab_indent", "a:\n\tb: 1\n"),
    ("err_mapping_values", "a: b: c\n"),
    ("err_unclosed_double", "a: \"abc\n"),
    ("err_unclosed_single", "a: 'abc\nb: 1\n"),
    ("err_unclosed_flow", "a: [1, 2\n"),
    ("err_unclosed_map", "a: {x: 1\n"),
    ("err_at_sign", "a: @x\n"),
    ("err_backtick", "a: `x`\n"),
    ("err_bad_indent_seq", "a:\n  - 1\n - 2\n"),
    ("err_bad_indent_map", "a: 1\n b: 2\n"),
    ("err_undefined_alias", "a: *nope\n"),
    ("err_unhashable", "key: {{ foo }}\n"),
    ("err_unknown_tag", "a: !foo x\n"),
    ("err_merge_scalar", "a:\n  <<: 1\n"),
    ("err_merge_list_scalar", "b: &b {x: 1}\na:\n  <<: [*b, 2]\n"),
    ("err_bad_int_tag", "a: !!int abc\n"),
    ("err_bad_bool_tag", "a: !!bool maybe\n"),
    ("err_value_tag", "a: =\n"),
    ("err_seq_under_map", "a: 1\n- b\n"),
    ("err_jinja_unquoted_task", "- debug:\n    msg: {{ x }}\n"),
    ("err_colon_text", "- name: foo\n  shell: echo \"a: b\" c: d\n"),
    ("err_dash_after_key", "a:\n  b: 1\n  - c\n"),
    ("err_vault_map", "a: !vault {x: 1}\n"),
    ("err_str_tag_map", "a: !!str {x: 1}\n"),
    ("err_flow_close", "a: ]\n"),
    ("err_doc_marker", "a: 1\n--- b\nc: 2\n"),
    ("err_percent", "%foo\n"),
    ("err_anchor_alias_ws", "a: &\n"),
]


def encode(v):
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, EncryptedString):
        return {"vault": v._ciphertext}
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return {"float": "nan"}
        if math.isinf(v):
            return {"float": "inf" if v > 0 else "-inf"}
        return {"float": repr(v)}
    if isinstance(v, str):
        if TrustedAsTemplate.is_tagged_on(v):
            return v
        return {"unsafe": str(v)}
    if isinstance(v, dict):
        return {"map": [[encode(k), encode(x)] for k, x in v.items()]}
    if isinstance(v, (set, frozenset)):
        return {"map": [[encode(k), None] for k in v]}
    if isinstance(v, (list, tuple)):
        return [encode(x) for x in v]
    # dates and datetimes: the agent keeps them as the original text
    return {"date": str(v)}


def load(src):
    WARNINGS.clear()
    stream = TrustedAsTemplate().tag(src)
    try:
        docs = list(yaml.load_all(stream, Loader=AnsibleLoader))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        return {"error": {"line": mark.line + 1, "col": mark.column + 1,
                          "msg": " ".join(str(x) for x in (e.context, e.problem) if x)}}
    except Exception as e:  # constructor failures without a mark (bad !!int etc.)
        return {"error": {"line": 0, "col": 0, "msg": f"{type(e).__name__}: {e}"}}
    return {"docs": [encode(d) for d in docs], "warnings": list(WARNINGS)}


def main():
    cases = []
    for i, s in enumerate(SCALARS):
        src = "v: " + s if not s.startswith(("|", ">", "!vault |")) else "v: " + s
        if "\n" not in src:
            src += "\n"
        cases.append({"name": f"scalar_{i}", "yaml": src, "expect": load(src)})
        if "\n" not in s:
            seq = f"- {s}\n"
            cases.append({"name": f"seq_scalar_{i}", "yaml": seq, "expect": load(seq)})
    for name, src in DOCS + ERRORS:
        cases.append({"name": name, "yaml": src, "expect": load(src)})
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "parse_cases.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(cases)} cases -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
