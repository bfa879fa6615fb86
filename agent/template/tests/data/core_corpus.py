#!/usr/bin/env python3
"""Produce core_corpus.json: expectations for the templating core, from real ansible-core.

Run with the ansible-core 2.21.5 venv:
    /work/ansible-venv/bin/python agent/template/tests/data/core_corpus.py
Each case is a template string ("t") or a conditional ("c") rendered with VARS by
ansible's Templar (variables trusted, as vars loaded from YAML are). The Rust test
tests/core_corpus.rs replays the cases without Python.
"""
import json
import os
import sys

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

VARS = {
    "a": 1, "n0": 0, "neg": -3, "fl": 1.5, "s": "hello", "S": "Hello World", "e": "", "b": True, "bf": False,
    "none": None, "lst": [1, 2, 3], "el": [], "ed": {}, "strs": ["x", "y", "z"],
    "d": {"k": "v", "n": None, "num": 2, "sub": {"deep": "yes"}},
    "users": [{"name": "alice", "uid": 1000}, {"name": "bob", "uid": 1001}],
    "f": "false", "F": "False", "t": "true", "one": "1", "st": "5", "ml": "line1\nline2",
    "q": "it's", "dq": 'say "hi"', "u": "héllo", "path": "/etc/ssh/sshd_config",
    "ref": "{{ a + 1 }}", "chain": "{{ ref * 10 }}", "nested": {"x": "{{ s }}", "y": ["{{ a }}", "{{ ref }}"]},
    "strref": "pre-{{ s }}", "listref": "{{ lst }}", "boolref": "{{ b }}", "dictref": "{{ d }}",
    "loopy": "{{ loopy }}", "l1": "{{ l2 }}", "l2": "{{ l1 }}", "bad": "{{ nosuch }}", "badattr": "{{ d.nokey }}",
    "keyref": {"{{ s }}": 1}, "condref": "{{ a == 1 }}", "port": "22", "ver": "1.2.3",
}

CASES = [
    # native types
    ("t", "{{ a }}"), ("t", " {{ a }}"), ("t", "{{ a }} "), ("t", "{{a}}"), ("t", "{{- a -}}"), ("t", "{{ a }}\n"),
    ("t", "{{ fl }}"), ("t", "{{ s }}"), ("t", "{{ b }}"), ("t", "{{ bf }}"), ("t", "{{ none }}"), ("t", "{{ lst }}"),
    ("t", "{{ d }}"), ("t", "{{ el }}"), ("t", "{{ ed }}"), ("t", "{{ users }}"), ("t", "{{ one }}"), ("t", "{{ '1' }}"),
    ("t", "{{ '[1, 2]' }}"), ("t", "{{ 'True' }}"), ("t", "{{ 1.0 }}"), ("t", "{{ (1, 2) }}"), ("t", "{{ [1, 'a', none, true] }}"),
    ("t", "{{ {'a': 1, 'b': [none]} }}"), ("t", "{{ a }}{{ a }}"), ("t", "{{ a }} {{ s }}"), ("t", "x{{ a }}"),
    # str() of values inside text
    ("t", "x{{ b }}"), ("t", "x{{ bf }}"), ("t", "x{{ none }}"), ("t", "x{{ lst }}"), ("t", "x{{ d }}"), ("t", "x{{ fl }}"),
    ("t", "x{{ fl * 2 }}"), ("t", "x{{ 1.0 }}"), ("t", "x{{ (1, 2) }}"), ("t", "x{{ [q] }}"), ("t", "x{{ [dq] }}"), ("t", "x{{ [ml] }}"),
    ("t", "x{{ [u] }}"), ("t", "x{{ users }}"), ("t", "x{{ [none, true, false] }}"), ("t", "x{{ {'k': {'n': none}} }}"),
    ("t", "x{{ el }}{{ ed }}"), ("t", "{{ ml }}"), ("t", "x{{ 10 / 4 }}"), ("t", "x{{ 1e20 }}"),
    # arithmetic and operators
    ("t", "{{ 10 / 4 }}"), ("t", "{{ 10 // 4 }}"), ("t", "{{ 7 % 3 }}"), ("t", "{{ 2 ** 10 }}"), ("t", "{{ -7 // 2 }}"),
    ("t", "{{ a + fl }}"), ("t", "{{ 'a' ~ 1 ~ true }}"), ("t", "{{ 'ab' * 3 }}"), ("t", "{{ s + ' world' }}"),
    ("t", "{{ lst + [4] }}"), ("t", "{{ 2 in lst }}"), ("t", "{{ 'k' in d }}"), ("t", "{{ 'ell' in s }}"),
    ("t", "{{ a == 1 and b }}"), ("t", "{{ a if b else 2 }}"), ("t", "{{ a if bf }}"), ("t", "x{{ a if bf }}y"),
    ("t", "{{ not b }}"), ("t", "{{ none is none }}"), ("t", "{{ lst[0] }}"), ("t", "{{ lst[-1] }}"), ("t", "{{ lst[1:] }}"),
    ("t", "{{ s[1:3] }}"), ("t", "{{ s[::-1] }}"), ("t", "{{ d['k'] }}"), ("t", "{{ d.sub.deep }}"), ("t", "{{ users[1].name }}"),
    ("t", "{{ st | int + 1 }}"), ("t", "{{ 1 < 2 < 3 }}"), ("t", "{{ s == 'hello' }}"), ("t", "{{ a != 1 }}"),
    # python methods
    ("t", "{{ '%s-%d' % (s, a) }}"), ("t", "{{ '%s' % s }}"), ("t", "{{ '%05.2f|%x' % (3.14159, 255) }}"),
    ("t", "{{ 'v=%s' % b }}"), ("t", "{{ 'v=%s' % none }}"), ("t", "x{{ '%s:%s' % (s, port) }}y"),
    ("t", "{{ '{}-{:>3}'.format(1, 2) }}"), ("t", "{{ '{0}/{1}'.format(s, a) }}"),
    ("t", "{{ s.startswith(('h', 'x')) }}"), ("t", "{{ s.endswith('lo') }}"), ("t", "{{ s.upper() }}"), ("t", "{{ S.lower() }}"),
    ("t", "{{ 'a,b,c'.split(',') }}"), ("t", "{{ 'a,b,c'.split(',', 1) }}"), ("t", "{{ ' a  b '.split() }}"),
    ("t", "{{ 'aXbXc'.rsplit('X', 1) }}"), ("t", "{{ path.split('/') }}"), ("t", "{{ ver.split('.')[0] | int }}"),
    ("t", "{{ 'abc'.zfill(5) }}"), ("t", "{{ '123'.isdigit() }}"), ("t", "{{ 'banana'.count('a') }}"),
    ("t", "{{ 'banana'.find('n') }}"), ("t", "{{ 'banana'.index('n') }}"), ("t", "{{ ','.join(strs) }}"),
    ("t", "{{ '  x  '.strip() }}"), ("t", "{{ 'xxhixx'.strip('x') }}"), ("t", "{{ s.replace('l', 'L') }}"),
    ("t", "{{ s.capitalize() }}"), ("t", "{{ S.title() }}"), ("t", "{{ ml.splitlines() }}"), ("t", "{{ lst.index(2) }}"),
    ("t", "{{ d.get('k') }}"), ("t", "{{ d.get('zz', 3) }}"), ("t", "{{ d.get('zz') }}"), ("t", "{{ d.keys() | list }}"),
    ("t", "{{ d.values() | list | length }}"), ("t", "{{ d.items() | list }}"), ("t", "{{ d.copy() }}"),
    ("t", "{{ 'ab'.center(6, '*') }}"), ("t", "{{ 'a=b=c'.partition('=') }}"), ("t", "{{ s.rfind('l') }}"),
    # lazy variables
    ("t", "{{ ref }}"), ("t", "{{ chain }}"), ("t", "{{ nested }}"), ("t", "{{ nested.y }}"), ("t", "{{ strref }}"),
    ("t", "{{ listref }}"), ("t", "{{ boolref }}"), ("t", "{{ dictref }}"), ("t", "{{ keyref }}"), ("t", "{{ condref }}"),
    ("t", "x{{ nested }}"), ("t", "{{ loopy }}"), ("t", "{{ l1 }}"), ("t", "{{ bad }}"), ("t", "{{ bad | default('z') }}"),
    ("t", "{{ badattr }}"),
    # undefined handling
    ("t", "{{ foo }}"), ("t", "x{{ foo }}"), ("t", "{{ foo.bar }}"), ("t", "{{ foo.bar | default(1) }}"),
    ("t", "{{ foo | default('d') }}"), ("t", "{{ foo | default(omit) is defined }}"), ("t", "{{ d.zz }}"),
    ("t", "{{ d.zz.yy | default(2) }}"), ("t", "{{ d.zz is defined }}"), ("t", "{{ foo.bar is defined }}"),
    ("t", "{{ foo is undefined }}"), ("t", "{{ d.k.zz }}"), ("t", "{{ lst.zz }}"), ("t", "{{ none.x }}"),
    ("t", "{{ users[0].nope }}"), ("t", "{{ d['missing'] }}"), ("t", "{{ foo | upper }}"), ("t", "{{ d.sub.nope }}"),
    ("t", "{{ d.n | default('x') }}"), ("t", "{{ d.n | default('x', true) }}"), ("t", "{{ e | default('x', true) }}"),
    # statements, whitespace
    ("t", "{% for i in lst %}{{ i }},{% endfor %}"), ("t", "{% for u in users %}{{ u.name }}{% if not loop.last %} {% endif %}{% endfor %}"),
    ("t", "{% if b %}\nyes\n{% endif %}\n"), ("t", "  {% if true %}\nyes\n  {% endif %}"), ("t", "{% if bf %}y{% else %}n{% endif %}"),
    ("t", "{% set x = a + 1 %}{{ x }}"), ("t", "{% set ns = namespace(c=0) %}{% for i in lst %}{% set ns.c = ns.c + i %}{% endfor %}{{ ns.c }}"),
    ("t", "{% macro m(x) %}[{{ x }}]{% endmacro %}{{ m(s) }}"), ("t", "{# c #}x"), ("t", "a\n\n"), ("t", "{{ a }}\n\n"),
    ("t", "{%- if b -%} t {%- endif -%}"), ("t", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}"),
    ("t", "{% for i in range(3) %}{{ i }}{% endfor %}"), ("t", "{{ range(3) | list }}"), ("t", "{% raw %}{{ a }}{% endraw %}"),
    ("t", "{% for i in foo %}x{% endfor %}"), ("t", "{% if foo %}x{% endif %}"), ("t", "{{ lst | length }}"),
    ("t", "{{ users | map(attribute='name') | list }}"), ("t", "{{ lst | join('-') }}"), ("t", "{{ dict(a=1) }}"),
    # syntax and other errors
    ("t", "{{ a | nosuchfilter }}"), ("t", "{{ a is nosuchtest }}"), ("t", "{{ a + }}"), ("t", "{% if %}"), ("t", "{{ s + 1 }}"),
    ("t", "{% for %}"), ("t", "{{ 1 / 0 }}"), ("t", "{{ 'x'.nosuchmethod() }}"),
    # backslashes in string literals: kept as written inside {{ }}, Python escapes in {% %} and conditionals
    ("t", r"{{ 'a\nb' }}"), ("t", r"{{ 'a\\b' }}"), ("t", r"{{ 'it\'s' }}"), ("t", '{{ "q\\"x" }}'), ("t", r"x{{ 'a\tb' }}"),
    ("t", r"{{ path | regex_replace('^/(\w+)/.*$', '<\1>') }}"), ("t", r"{% set x = 'a\nb' %}{{ x }}"),
    ("t", r"{% set x = 'a\1b\x41\u00e9\/\q' %}{{ x }}"), ("t", r"{% if 'a\x41' == 'aA' %}y{% endif %}"), ("t", r"{{ 'é\é' }}"),
    ("t", r"{% set x = '\é' %}{{ x }}"), ("t", r"{% set x = '\x4' %}{{ x }}"), ("t", r"{% set x = '\777\0' %}{{ x | length }}"),
    ("t", "{% set x = 'a\\\nb' %}{{ x }}"), ("t", r"{% raw %}{{ '\1' }}{% endraw %}"), ("t", r"{{ '\\' }}"),
    ("c", r"'a\nb' == 'a' + '\n' + 'b'"), ("c", r"'\1' == '\x01'"), ("c", r"'\\' | length == 1"),
    # undefined values: any use fails, attributes of undefined stay undefined for default/defined
    ("t", "{{ foo | default('a') | upper }}"), ("t", "{{ foo.x.y | default(3) }}"), ("t", "{{ foo | list }}"), ("t", "{{ foo | length }}"),
    ("t", "{{ foo | string }}"), ("t", "{{ foo | int }}"), ("t", "{{ foo | d(1) }}"), ("t", "{{ [foo] }}"), ("t", "{{ foo == 1 }}"),
    ("t", "{{ foo ~ 'x' }}"), ("t", "{{ foo + 1 }}"), ("t", "{{ foo or 1 }}"), ("t", "{{ not foo }}"), ("t", "{{ 1 if foo else 2 }}"),
    ("t", "{{ foo is none }}"), ("t", "{{ foo in [1] }}"), ("t", "{% set y = foo %}z"), ("t", "{% set y = foo %}{{ y | default(5) }}"),
    ("t", "{{ (foo | default({})).x | default(1) }}"), ("t", "{{ foo['a'] | default(1) }}"), ("t", "{% if foo is defined and foo %}x{% endif %}"),
    ("t", "{% if foo | default(false) %}x{% endif %}"), ("t", "{{ foo | join(',') }}"), ("t", "{{ foo | to_json }}"), ("t", "{{ foo | trim }}"),
    ("t", "{% for i in foo | default([]) %}x{% endfor %}"), ("t", "{{ foo() }}"), ("t", "{{ foo.x.y }}"), ("t", "{% if d.zz.yy is defined %}x{% endif %}"),
    ("t", "{{ none.x | default(1) }}"), ("t", "{{ users[5].name | default('n') }}"), ("t", "{{ d['zz']['yy'] | default(2) }}"),
    ("t", "{{ foo.x | upper }}"), ("t", "{{ d.zz | upper }}"), ("t", "{{ d.zz.yy | upper }}"), ("t", "{% for i in foo.x %}{% endfor %}"),
    ("t", "{{ foo.x is undefined }}"), ("t", "{{ d.zz.yy|d('q') }}"), ("t", "{{ foo.x | default(foo.y | default(4)) }}"),
    ("c", "foo.bar.baz is not defined"), ("c", "d.zz.yy | default(false)"), ("c", "foo | default(true)"), ("c", "foo.x"),
    # Jinja2 native concat: one printed value keeps its type, nothing printed is None
    ("t", "{% set x = 1 %}{{ x }}\n"), ("t", "{% if bf %}x{% endif %}"), ("t", "{% set x = [1] %}{{ x }}"), ("t", "{% for i in [1] %}{{ i }}{% endfor %}"),
    ("t", "{% set x = 1 %}{{ x }}{{ '' }}"), ("t", "{{ a if bf }}{{ a }}"), ("t", "{{ lst }}{# c #}"), ("t", "{% set x = 'x' %}{{ x }}\n"),
    ("t", "{% set x = none %}{{ x }}"), ("t", "{% if b %}{{ d }}{% endif %}"),
    # conditionals
    ("c", "a == 1"), ("c", "b"), ("c", "bf"), ("c", "not b"), ("c", "f"), ("c", "F"), ("c", "t"), ("c", "s"), ("c", "e"),
    ("c", "a"), ("c", "n0"), ("c", "lst"), ("c", "el"), ("c", "none"), ("c", "foo"), ("c", "foo is defined"),
    ("c", "foo is not defined"), ("c", "d.zz is defined"), ("c", "d.k == 'v'"), ("c", "'x' in strs"),
    ("c", "a == 1 and s == 'hello'"), ("c", "bf or a > 0"), ("c", "lst | length > 2"), ("c", "condref"),
    ("c", "boolref"), ("c", "f | bool"), ("c", "users[0].uid == 1000"), ("c", "foo.bar is defined"),
    ("c", "s is match('h.*')" if False else "s.startswith('h')"), ("c", "(a == 1)"), ("c", "  b  "),
]


def trust(o):
    if isinstance(o, str):
        return trust_as_template(o)
    if isinstance(o, dict):
        return {trust(k): trust(v) for k, v in o.items()}
    if isinstance(o, list):
        return [trust(v) for v in o]
    return o


def to_json(v):
    if isinstance(v, bool) or v is None or isinstance(v, (int, float)):
        return v
    if isinstance(v, str):
        return str(v)
    if isinstance(v, dict):
        return {str(k): to_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    return repr(v)


def type_name(v):
    for t in (bool, int, float, str, dict, list):
        if isinstance(v, t):
            return t.__name__
    if v is None:
        return "NoneType"
    return type(v).__name__


def main():
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "core_corpus.json")
    templar = Templar(loader=DataLoader(), variables=trust(VARS))
    results = []
    for kind, src in CASES:
        case = {"kind": kind, "src": src}
        try:
            if kind == "c":
                v = templar.evaluate_conditional(trust_as_template(src))
            else:
                v = templar.template(trust_as_template(src))
            case.update(ok=True, type=type_name(v), value=to_json(v))
        except Exception as ex:  # noqa: BLE001 - every failure is an expectation
            msg = str(ex).split("\n")[0]
            case.update(ok=False, error_type=type(ex).__name__, error=msg)
        results.append(case)
    with open(out_path, "w") as fh:
        json.dump({"ansible_core": "2.21.5", "vars": VARS, "cases": results}, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    print(f"{len(results)} cases written to {out_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
