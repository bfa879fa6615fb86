#!/usr/bin/env python3
"""Generate lib_corpus.json: expected results of filter/test/lookup expressions, computed
by real ansible-core (2.21.5). Run with the ansible venv's python:

    PYTHONPATH=SITE ANSIBLE_COLLECTIONS_PATH=COLL \
        /work/ansible-venv/bin/python agent/template/tests/data/lib_gen.py

The ansible.utils and community.general cases need those collections and their Python
requirements: COLL is a directory holding ansible_collections/ansible/utils and
ansible_collections/community/general (unpacked from the `ansible` wheel on PyPI,
`pip download ansible --no-deps`; 14.5.0 was used; ansible_collections/ansible/netcommon
too, whose routing makes the short ipaddr/ipv4/ipv6 resolve as with the ansible package), SITE a `pip install --target`
directory with netaddr and jmespath. The script refuses to run without them.

Each case is an expression (rendered as "{{ expr }}" with native types) and variables;
the output holds the value (JSON, int/float kept apart) or the error message. The string
@DATA@ stands for the absolute path of this directory's lib_files/ (the Rust runner
substitutes its own)."""

import datetime
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("ANSIBLE_DEPRECATION_WARNINGS", "false")
os.environ["LIB_CORPUS_ENV"] = "corpus-value"

from ansible.plugins.loader import init_plugin_loader  # noqa: E402

if not os.environ.get("ANSIBLE_COLLECTIONS_PATH"):
    sys.exit("set ANSIBLE_COLLECTIONS_PATH (ansible.utils, community.general) and PYTHONPATH (netaddr, jmespath)")
init_plugin_loader(os.environ["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep))

from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.template import Templar, trust_as_template  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "lib_files")

V = {
    "users": [
        {"name": "alice", "uid": 1001, "groups": ["wheel", "dev"], "shell": "/bin/bash", "active": True},
        {"name": "bob", "uid": 1002, "groups": ["dev"], "shell": "/bin/zsh", "active": False},
        {"name": "carol", "uid": 1000, "groups": [], "shell": "/bin/bash", "active": True},
    ],
    "pkgs": {"nginx": {"version": "1.24", "state": "present"}, "redis": {"version": "7.0", "state": "absent"}},
    "nums": [3, 1, 4, 1, 5, 9, 2, 6],
    "words": ["banana", "Apple", "cherry", "apple"],
    "conf": {"a": 1, "b": {"c": 2, "d": [1, 2]}},
    "over": {"b": {"d": [3], "e": 5}, "f": "x"},
    "res_ok": {"changed": False, "failed": False, "rc": 0},
    "res_changed": {"changed": True, "rc": 0},
    "res_failed": {"failed": True, "msg": "boom"},
    "res_skipped": {"skipped": True, "changed": False},
    "res_loop": {"results": [{"changed": False}, {"changed": True}]},
    "empty": "",
    "text": "Line one\nline two\nLINE three\n",
    "path": "/etc/nginx/conf.d/default.conf",
    "url": "https://user:secret@www.Example.com:8443/path/to/page?x=1&y=2#frag",
    "ansible_search_path": ["@DATA@"],
    "who": "world",
    "items": ["a", "b"],
}

C = []


def case(expr, **extra_vars):
    C.append((expr, extra_vars))


# ---------------------------------------------------------------- default / bool / ternary / mandatory
for e in [
    "undefined_thing | default('x')", "undefined_thing | d('x')", "'' | default('x')", "'' | default('x', true)",
    "0 | default(5, true)", "none | default(5)", "none | default(5, true)", "false | default('y', true)",
    "[] | default(['z'], true)", "undefined_thing | default", "'v' | default('x', boolean=true)",
    "'' | default('x', 'yes')", "users[0].name | default('n')", "users[0].nope | default('n')",
    "'yes' | bool", "'No' | bool", "'TRUE' | bool", "'off' | bool", "1 | bool", "0 | bool", "true | bool",
    "'1' | bool", "'0' | bool", "2 | bool", "1.0 | bool", "'maybe' | bool", "none | bool",
    "true | ternary('a', 'b')", "0 | ternary('a', 'b')", "none | ternary('a', 'b', 'n')", "none | ternary('a', 'b')",
    "'x' | ternary(1, 2)", "[] | ternary(1, 2)", "5 | mandatory", "undefined_thing | mandatory",
    "undefined_thing | mandatory('need it')",
]:
    case(e)

# ---------------------------------------------------------------- json / yaml
for e in [
    "conf | to_json", "[1, 'two', none, true, 1.5] | to_json", "{'é': 'ü'} | to_json", "'x\"y\\\\z\\n' | to_json",
    "conf | to_json(indent=2)", "conf | to_json(sort_keys=true)", "{'b': 1, 'a': 2} | to_json(separators=[',', ':'])",
    "{'é': 1} | to_json(ensure_ascii=false)", "conf | to_nice_json", "conf | to_nice_json(indent=2)",
    "[] | to_nice_json", "{} | to_nice_json", "{'b': [], 'a': {}} | to_nice_json",
    "{'z': 1, 'a': 2} | to_nice_json(sort_keys=false)", "[1, [2, [3]]] | to_nice_json", "1.0 | to_json",
    "1e20 | to_json", "0.000001 | to_json", "'{\"a\": [1, 2.5, null]}' | from_json", "'[1, 2]' | from_json",
    "'\"s\"' | from_json", "'{bad' | from_json", "'12' | from_json", "'true' | from_json",
]:
    case(e)

# ---------------------------------------------------------------- regex
for e in [
    "'hello world' | regex_replace('o', '0')", "'hello world' | regex_replace('(\\\\w+) (\\\\w+)', '\\\\2 \\\\1')",
    "'hello world' | regex_replace('(?P<first>\\\\w+) (?P<second>\\\\w+)', '\\\\g<second> \\\\g<first>')",
    "'HELLO' | regex_replace('hello', 'bye', ignorecase=true)", "'aaa' | regex_replace('a', 'b', count=2)",
    "text | regex_replace('^line', 'L', multiline=true, ignorecase=true)", "'abc' | regex_replace('x*', '-')",
    "'path/to/file' | regex_replace('/', '\\\\\\\\')", "'foo.bar' | regex_replace('\\\\.', '_')",
    "'a1b22c333' | regex_replace('[0-9]+', '#')", "'end\\n' | regex_replace('$', '!')",
    "'abc' | regex_replace('b', 'X', mandatory_count=1)", "'abc' | regex_replace('z', 'X', mandatory_count=1)",
    "'key = value' | regex_replace('^(\\\\w+)\\\\s*=\\\\s*(.*)$', '\\\\1: \\\\2')", "123 | regex_replace('2', 'x')",
    "'hello world' | regex_search('o w')", "'hello world' | regex_search('xyz')",
    "'server1.example.com' | regex_search('^(\\\\w+)\\\\.(\\\\w+)', '\\\\1', '\\\\2')",
    "'ver 1.2.3' | regex_search('(?P<maj>\\\\d+)\\\\.(?P<min>\\\\d+)', '\\\\g<maj>', '\\\\g<min>')",
    "'ABC' | regex_search('b', ignorecase=true)", "text | regex_search('^line two$', multiline=true)",
    "'a1b2c3' | regex_findall('[0-9]')", "'a1b2c3' | regex_findall('([a-z])([0-9])')",
    "'k1=v1 k2=v2' | regex_findall('(\\\\w+)=(\\\\w+)')", "'abc' | regex_findall('x')",
    "text | regex_findall('^l\\\\w+', multiline=true, ignorecase=true)", "'x.y*z' | regex_escape",
    "'a b+c?' | regex_escape", "'1.5[x]' | regex_escape('posix_basic')", "'a' | regex_escape('posix_extended')",
    "'abc' | regex_findall('')", "'aXbXc' | regex_replace('(?i)x', '-')",
]:
    case(e)

# ---------------------------------------------------------------- data structures
for e in [
    "conf | combine(over)", "conf | combine(over, recursive=true)", "conf | combine(over, recursive=true, list_merge='append')",
    "conf | combine(over, recursive=true, list_merge='prepend')", "conf | combine(over, recursive=true, list_merge='keep')",
    "{'l': [1, 2, 3]} | combine({'l': [2, 4]}, list_merge='append_rp')", "{'l': [1, 2, 3]} | combine({'l': [2, 4]}, list_merge='prepend_rp')",
    "[{'a': 1}, {'b': 2}, {'a': 3}] | combine", "{'a': 1} | combine({'b': 2}, {'c': 3}, {'a': 4})", "{} | combine({})",
    "{'a': 1} | combine({'b': 2}, bogus=1)", "{'a': 1} | combine({'b': 2}, list_merge='bad')", "{'a': 1} | combine([1])",
    "conf | dict2items", "conf | dict2items(key_name='k', value_name='v')", "[{'key': 'a', 'value': 1}, {'key': 'b', 'value': 2}] | items2dict",
    "[{'n': 'a', 'v': 1}] | items2dict(key_name='n', value_name='v')", "[1, 2] | dict2items", "'x' | items2dict",
    "[{'key': 'a'}] | items2dict", "[1, [2, [3, [4]]]] | flatten", "[1, [2, [3, [4]]]] | flatten(1)", "[1, [2, [3, [4]]]] | flatten(levels=2)",
    "[1, none, 'None', [2, 'null']] | flatten", "[1, none, [2]] | flatten(skip_nulls=false)", "[] | flatten",
    "users | subelements('groups')", "users | subelements('groups') | map('last') | list", "users | subelements('missing')",
    "users | subelements('missing', skip_missing=true)", "[{'a': {'b': [1, 2]}}] | subelements('a.b')",
    "'name' | extract(users[0])", "0 | extract(users)", "0 | extract(users, 'name')", "0 | extract(users, ['groups', 1])",
    "['a', 'b'] | map('extract', {'a': 1, 'b': 2}) | list", "'nope' | extract({'a': 1}) | default('d')",
    "'nginx' | extract(pkgs, 'version')",
]:
    case(e)

# ---------------------------------------------------------------- encoding / hashing / uuid
for e in [
    "'hello' | b64encode", "'héllo wörld' | b64encode", "'aGVsbG8=' | b64decode", "'aGVsbG8' | b64decode",
    "'hi?>' | b64encode(urlsafe=true)", "'aGk_Pg==' | b64decode(urlsafe=true)", "'hello' | b64encode(encoding='utf-16-le')",
    "'aABlAGwAbABvAA==' | b64decode(encoding='utf-16-le')", "'hello' | hash('md5')", "'hello' | hash('sha256')",
    "'hello' | hash", "'hello' | hash('sha512')", "'hello' | hash('sha384')", "'hello' | hash('sha224')",
    "'hello' | md5", "'hello' | sha1", "'hello' | checksum", "'hello' | hash('nope')", "123 | md5",
    "'secret' | password_hash('sha512', 'mysalt12', rounds=5000)", "'secret' | password_hash('sha256', 'abcdefgh', rounds=10000)",
    "'secret' | password_hash('md5', 'abcdefgh')", "'secret' | password_hash('sha512', 'saltsalt')",
    "'p@ss w0rd!' | password_hash('sha512', 'abcdefghijklmnop', rounds=5000)", "'secret' | password_hash('sha512', 'bad$salt')",
    "'secret' | password_hash('sha512', 'waytoolongsaltvalue1234')", "'x' | password_hash('sha256', salt='abcdefgh', rounds=1000)",
    "'test' | to_uuid", "'web01.example.com' | to_uuid", "'x' | to_uuid(namespace='6ba7b810-9dad-11d1-80b4-00c04fd430c8')",
    "'x' | to_uuid(namespace='nope')",
]:
    case(e)

# ---------------------------------------------------------------- strings / paths / misc
for e in [
    "'hello world' | quote", "\"it's\" | quote", "'' | quote", "'safe-path/x.y' | quote", "none | quote",
    "'a b' | split", "'a,b,,c' | split(',')", "'a b c' | split(' ', 1)", "'  a  b ' | split()", "'abc' | split('')",
    "'text' | comment", "'a\\nb' | comment", "'x' | comment('c')", "'x' | comment('cblock')", "'x' | comment('xml')",
    "'x' | comment('erlang')", "'x' | comment(decoration='; ')", "'x' | comment('plain', prefix='#!', postfix='#')",
    "'x' | comment('bogus')", "'x' | type_debug", "1 | type_debug", "1.5 | type_debug", "true | type_debug",
    "none | type_debug", "[1] | type_debug", "{} | type_debug", "path | basename", "path | dirname", "'/' | dirname",
    "'file' | dirname", "'/a/b/' | basename", "path | splitext", "'archive.tar.gz' | splitext", "'.bashrc' | splitext",
    "['/etc', 'nginx', 'x.conf'] | path_join", "['/etc', '/abs', 'x'] | path_join", "'single' | path_join",
    "['a', 'b'] | path_join", "'/a/./b/../c' | normpath", "'a//b/' | normpath", "'/usr/lib/x' | relpath('/usr/share')",
    "'/a/b' | relpath('/a/b')", "['/usr/lib', '/usr/local/lib'] | commonpath", "'C:\\\\dir\\\\file.txt' | win_basename",
    "'C:\\\\dir\\\\file.txt' | win_dirname", "'C:\\\\dir\\\\file.txt' | win_splitdrive", "'/nonexistent/x/../y' | realpath",
    "'~' | expanduser == lookup('env', 'HOME')", "'$LIB_CORPUS_ENV/x' | expandvars", "'$NOPE_NOT_SET/x' | expandvars",
    "'%Y-%m-%d %H:%M:%S' | strftime(0, utc=true)", "'%Y-%m-%d' | strftime(86400 * 365, utc=true)",
    "'%d/%m/%Y %H:%M' | strftime(1700000000, utc=true)", "'%s' | strftime('abc')",
    "('2024-03-05 10:20:30' | to_datetime).year", "('05/03/2024' | to_datetime('%d/%m/%Y')).month",
    "'2024-03-05' | to_datetime", "('2024-03-05 10:20:30' | to_datetime).strftime('%H-%M')",
    "'/etc/*.nothing-matches' | fileglob", "'x' | random(seed=1)", "10 | random(seed='host1')", "100 | random(start=50, seed=7)",
    "100 | random(start=0, step=10, seed=3)", "['a', 'b', 'c', 'd'] | random(seed=42)", "[1, 2, 3, 4, 5] | shuffle(seed=42)",
    "['a', 'b', 'c', 'd', 'e', 'f'] | shuffle(seed='web01')", "[1, 2, 3] | shuffle(seed=0) | length", "60 | random(seed='db01.example.com')",
    "[] | random(seed=1)", "1.5 | random(seed=1)",
]:
    case(e)

# ---------------------------------------------------------------- math / sets / itertools
for e in [
    "[3, 1, 2] | union([5, 1])", "[3, 1, 2, 3] | intersect([2, 3, 7])", "[3, 1, 2] | difference([2])",
    "[3, 1, 2] | symmetric_difference([2, 4])", "[10, 20, 30, 40, 50, 60, 70, 80, 90] | difference([20])",
    "[100, 7, 64, 8, 15] | union([3, 1000])", "[-1, -2, 5] | union([0])", "[{'a': 1}, 2] | union([{'a': 1}, 3])",
    "[[1], [2]] | intersect([[2], [3]])", "[[1], [2]] | difference([[2]])", "[[1], [2]] | symmetric_difference([[2], [3]])",
    "['a', 'b'] | union(['b', 'c']) | sort", "['a', 'b', 'c'] | intersect(['c', 'b']) | sort", "['a', 'b'] | difference(['b']) ",
    "nums | unique", "words | unique", "words | unique(case_sensitive=true)", "users | unique(attribute='shell') | map(attribute='name') | list",
    "[1, 1.0, true, '1'] | unique", "nums | min", "nums | max", "words | min", "words | max", "words | max(case_sensitive=true)",
    "users | min(attribute='uid')", "users | max(attribute='uid') | extract(['name']) | default(users | max(attribute='uid'))",
    "(users | max(attribute='uid')).name", "[] | max", "[1, 'a'] | max", "100 | log", "100 | log(10)", "8 | log(2)",
    "0 | log", "2 | pow(10)", "2.5 | pow(2)", "16 | root", "27 | root(3)", "'x' | pow(2)", "-4 | root",
    "1024 | human_readable", "1048576 | human_readable", "1500 | human_readable", "10 | human_readable",
    "1073741824 | human_readable(unit='M')", "1000000 | human_readable(isbits=true)", "'x' | human_readable",
    "'1K' | human_to_bytes", "'10 MB' | human_to_bytes", "'1.5G' | human_to_bytes", "'100' | human_to_bytes",
    "'2' | human_to_bytes(default_unit='K')", "'1Mb' | human_to_bytes(isbits=true)", "'1Mb' | human_to_bytes",
    "'10 kilobyte' | human_to_bytes", "'abc' | human_to_bytes", "'2.5' | human_to_bytes", "'3.5' | human_to_bytes",
    "users | rekey_on_member('name') | list", "(users | rekey_on_member('name')).bob.uid", "pkgs | rekey_on_member('version') | list",
    "[{'k': 1}, {'k': 1}] | rekey_on_member('k')", "[{'k': 1}, {'k': 1}] | rekey_on_member('k', duplicates='overwrite')",
    "users | rekey_on_member('nope')", "[1, 2, 3] | zip(['a', 'b']) | list", "[1, 2] | zip(['a', 'b'], [true, false]) | list",
    "[1, 2, 3] | zip_longest(['a']) | list", "[1, 2, 3] | zip_longest(['a'], fillvalue='-') | list",
    "[1, 2] | product(['a', 'b']) | list", "[1, 2] | product(repeat=2) | list", "[1, 2, 3] | combinations(2) | list",
    "[1, 2, 3] | permutations | list", "[1, 2, 3] | permutations(2) | list", "'ab' | product('cd') | list",
    "[1, 2, 3] | combinations(0) | list", "[1, 2] | combinations(3) | list",
]:
    case(e)

# ---------------------------------------------------------------- urls
for e in [
    "url | urlsplit", "url | urlsplit('hostname')", "url | urlsplit('port')", "url | urlsplit('username')",
    "url | urlsplit('password')", "url | urlsplit('query')", "url | urlsplit('fragment')", "url | urlsplit('scheme')",
    "url | urlsplit('path')", "url | urlsplit('netloc')", "'http://[::1]:80/x' | urlsplit('hostname')",
    "'relative/path?q' | urlsplit", "url | urlsplit('bogus')", "'a%20b+c%2Fd' | urldecode", "'a b/c&d' | urlencode",
    "{'q': 'a b', 'x': '1&2'} | urlencode", "[['k', 'v w'], ['z', 1]] | urlencode", "'é' | urlencode",
]:
    case(e)

# ---------------------------------------------------------------- tests
for e in [
    "res_ok is succeeded", "res_ok is success", "res_failed is failed", "res_failed is failure", "res_ok is failed",
    "res_changed is changed", "res_ok is changed", "res_loop is changed", "res_skipped is skipped", "res_ok is skipped",
    "res_ok is finished", "{'finished': 0} is finished", "res_ok is started", "'x' is changed", "res_failed is successful",
    "{'unreachable': true} is unreachable", "res_ok is reachable", "'foobar' is match('foo')", "'xfoobar' is match('foo')",
    "'xfoobar' is search('foo')", "'FOO' is search('foo', ignorecase=true)", "'abc' is regex('b')",
    "'abc' is regex('b', match_type='match')", "'abc' is regex('abc', match_type='fullmatch')",
    "'abc' is regex('b', match_type='bogus')", "text is search('^line two', multiline=true)",
    "'1.10' is version('1.9', '>')", "'1.10' is version('1.9', 'gt')", "'1.2.3' is version('1.2.3', '==')",
    "'1.2.3' is version('1.2.4', 'lt')", "'2.0' is version('2.0.0', 'eq')", "'1.0.0-rc1' is version('1.0.0', '<', version_type='semver')",
    "'1.0.0' is version('1.0.0-rc1', '>', version_type='semantic')", "'1.2' is version('1.10', '<', strict=true)",
    "'1.2a1' is version('1.2', '<', strict=true)", "'1.2.3.4' is version('1.2', '>', strict=true)",
    "'1.a' is version('1.1', '<')", "'1.2' is version('1.2', 'bogus')", "'' is version('1.0', '>')",
    "'1.0' is version_compare('0.9', '>=')", "'1.2' is version('1.3', '!=')", "'1.2' is version('1.3', '<>')",
    "'2.6.32-754.el6' is version('2.6.32', '>')", "'1.0' is version('1.0', 'ne')", "'1.0.0' is version('1.0', '<=', version_type='loose')",
    "'x' is truthy", "'' is truthy", "'no' is truthy", "'no' is truthy(convert_bool=true)", "'yes' is falsy(convert_bool=true)",
    "0 is falsy", "[] is falsy", "[0, 1] is any", "[0, ''] is any", "[1, 'a'] is all", "[1, 0] is all", "[] is all",
    "'/etc' is directory", "'/etc/passwd' is file", "'/etc' is file", "'/nonexistent' is exists", "'/etc/passwd' is exists",
    "'/etc/passwd' is abs", "'etc/passwd' is abs", "'/' is mount", "'/etc' is mount", "'/etc/passwd' is link",
    "'/etc/passwd' is same_file('/etc/../etc/passwd')", "[1, 2] is subset([1, 2, 3])", "[1, 4] is subset([1, 2, 3])",
    "[1, 2, 3] is superset([3])", "[1, 2] is contains(2)", "[1, 2] is contains(5)", "users | selectattr('groups', 'contains', 'dev') | map(attribute='name') | list",
    "'nan' | float is nan", "1.5 is nan", "'https://x.org/a' is url", "'ftp://x' is url(['http', 'https'])", "'x' is url",
    "'mailto:a@b' is uri", "'urn:isbn:123' is urn", "'http://x' is urn", "'file:///etc' is url", "1 is number", "true is number",
    "true is integer", "1 is integer", "1.0 is float", "1 is float", "true is boolean", "'s' is string", "{} is mapping",
    "[] is mapping", "'abc' is sequence", "{} is sequence", "5 is sequence", "'x' is iterable", "none is sameas none",
    "true is sameas true", "1 is sameas true", "'$ANSIBLE_VAULT;1.1;AES256\\n6162' is vault_encrypted", "'plain' is vault_encrypted",
    "2 is in([1, 2])", "'b' is in('abc')", "users | selectattr('uid', 'version', '1001', '>=') | map(attribute='name') | list",
    "users | rejectattr('active') | map(attribute='name') | list", "users | selectattr('shell', 'search', 'bash') | map(attribute='name') | list",
    "users | selectattr('name', 'match', '^[ab]') | map(attribute='name') | list", "['a.txt', 'b.conf'] | select('search', '\\\\.conf$') | list",
]:
    case(e)

# ---------------------------------------------------------------- lookups
for e in [
    "lookup('file', 'hello.txt')", "lookup('file', 'spaced.txt')", "lookup('file', 'spaced.txt', rstrip=false)",
    "lookup('file', 'spaced.txt', lstrip=true)", "lookup('file', 'hello.txt', 'spaced.txt')", "query('file', 'hello.txt')",
    "lookup('file', 'hello.txt', wantlist=true)", "lookup('file', 'missing.txt')", "lookup('file', 'missing.txt', errors='ignore')",
    "query('file', 'missing.txt', errors='ignore')", "lookup('file', '@DATA@/files/hello.txt')", "lookup('env', 'LIB_CORPUS_ENV')",
    "lookup('env', 'LIB_CORPUS_NOT_SET')", "lookup('env', 'LIB_CORPUS_NOT_SET', default='dflt')", "lookup('env', 'LIB_CORPUS_ENV', 'LIB_CORPUS_ENV')",
    "query('env', 'LIB_CORPUS_ENV')", "lookup('pipe', 'echo hi; echo there')", "lookup('pipe', 'exit 3')", "query('lines', 'printf \"a\\\\nb\\\\n\"')",
    "lookup('lines', 'printf \"a\\\\nb\\\\n\"')", "lookup('vars', 'who')", "lookup('vars', 'who', 'items')", "lookup('vars', 'nope', default='d')",
    "lookup('vars', 'nope')", "query('varnames', '^res_') | sort", "lookup('varnames', '^wh')", "lookup('items', [1, 2])",
    "query('items', [1, [2, 3]], 4)", "lookup('items', ['a', 'b'])", "lookup('items', [])", "lookup('list', ['a', 'b'])",
    "query('list', ['a', 'b'])", "query('dict', pkgs) | map(attribute='key') | list", "query('dict', {'a': 1})",
    "lookup('dict', {'a': 1})", "query('dict', [1])", "query('sequence', 'start=1 end=5')", "lookup('sequence', 'start=1 end=5')",
    "query('sequence', 'start=0 end=10 stride=3 format=web%02d')", "query('sequence', 'count=3')", "query('sequence', '4-8/2:h%d')",
    "query('sequence', 'start=10 end=0 stride=-5')", "query('sequence', 'start=0x0a end=0x0c format=%x')", "query('sequence', 'end=0')",
    "query('sequence', 'start=5 end=1')", "query('sequence', 'start=1 end=3', 'start=7 end=8')", "query('sequence', 'start=1')",
    "query('sequence', start=2, end=4)", "query('subelements', users, 'groups') | map('last') | list",
    "query('subelements', users, 'nope', {'skip_missing': true})", "query('subelements', users, 'nope')",
    "query('together', [1, 2, 3], ['a', 'b'])", "query('nested', [1, 2], ['a', 'b'])", "query('nested', ['x'], [[1, 2], [3]])",
    "query('indexed_items', ['a', 'b'])", "query('first_found', ['nope.txt', 'hello.txt']) | map('basename') | list",
    "lookup('first_found', 'nope.txt', 'hello.txt') | basename", "query('first_found', ['nope.txt'], skip=true)",
    "lookup('first_found', 'nope.txt')", "lookup('first_found', {'files': ['nope', 'one.conf'], 'paths': ['@DATA@/files']})",
    "lookup('first_found', 'a.conf,two.conf') | basename", "query('fileglob', '*.conf') | map('basename') | sort",
    "lookup('fileglob', '*.nothing')", "lookup('ini', 'user', file='settings.ini')", "lookup('ini', 'port', file='settings.ini')",
    "lookup('ini', 'host', section='db', file='settings.ini')", "lookup('ini', 'user section=global file=settings.ini')",
    "lookup('ini', 'missing', file='settings.ini', default='dflt')", "lookup('ini', 'user.name', type='properties', file='app.properties')",
    "lookup('ini', 'user', section='nosection', file='settings.ini')", "lookup('csvfile', 'key2', file='data.tsv')",
    "lookup('csvfile', 'key1 file=data.tsv col=2')", "lookup('csvfile', 'b', file='data.csv', delimiter=',')",
    "lookup('csvfile', 'zz', file='data.csv', delimiter=',', default='none')", "lookup('template', 'greet.j2')",
    "lookup('template', 'greet.j2', template_vars={'who': 'tv'})", "lookup('password', '/dev/null length=12 seed=abc')",
    "lookup('password', '/dev/null length=8 chars=digits seed=1')", "lookup('password', '/dev/null', length=10, seed='s', chars=['ascii_lowercase'])",
    "lookup('nosuchlookup', 'x')", "lookup('nosuchlookup', 'x', errors='ignore')",
]:
    case(e)

# ---------------------------------------------------------------- FQCN names
for e in [
    "conf | ansible.builtin.to_json", "[1, [2]] | ansible.builtin.flatten", "'a' | ansible.builtin.b64encode",
    "res_ok is ansible.builtin.succeeded", "'1.2' is ansible.builtin.version('1.1', '>')", "[3, 1] | ansible.builtin.union([2])",
    "'x' | ansible.builtin.regex_replace('x', 'y')",
    "undefined_thing | ansible.builtin.default('fq')", "'a b' | ansible.builtin.quote",
]:
    case(e)


# ---------------------------------------------------------------- ansible.utils IP filters (need the collection + netaddr)
IPQ = ["", "address", "network", "netmask", "prefix", "broadcast", "host", "net", "private", "public", "size",
       "int", "revdns", "cidr", "subnet", "hostmask", "wildcard", "type", "version", "first_usable", "last_usable",
       "next_usable", "previous_usable", "range_usable", "size_usable", "ip/prefix", "ip_netmask", "network/prefix",
       "network_netmask", "network_wildcard", "ipv4", "ipv6", "wrap", "bool", "unicast", "multicast", "loopback",
       "link-local", "address/prefix", "peer"]
for val in ["'192.168.1.5/24'", "'10.0.0.0/8'", "'8.8.8.8'", "'2001:db8::1/64'", "'fe80::1'", "'10.1.1.1/31'",
            "'10.1.1.1/30'", "'172.16.0.0/32'", "'::ffff:10.0.0.1/120'"]:
    for q in IPQ:
        case(f"{val} | ansible.utils.ipaddr('{q}')")
for e in [
    "'192.168.1.1' | ansible.utils.ipaddr", "'nothing' | ansible.utils.ipaddr", "'' | ansible.utils.ipaddr",
    "3232235777 | ansible.utils.ipaddr", "'3232235777' | ansible.utils.ipaddr", "42540766411282592856903984951653826561 | ansible.utils.ipaddr",
    "'192.168.1.0/255.255.255.0' | ansible.utils.ipaddr", "'10.0.0.1/0.0.0.255' | ansible.utils.ipaddr('prefix')",
    "'167772160/8' | ansible.utils.ipaddr", "'1.2.3' | ansible.utils.ipaddr", "'010.0.0.1' | ansible.utils.ipaddr",
    "'10.0.0.1/33' | ansible.utils.ipaddr", "true | ansible.utils.ipaddr", "{'a': 1} | ansible.utils.ipaddr",
    "'10.0.0.1' | ansible.utils.ipaddr('bogus')", "'10.0.0.1' | ansible.utils.ipaddr('10.0.0.0/8')",
    "'10.0.0.1' | ansible.utils.ipaddr('192.168.0.0/16')", "'10.0.0.0/24' | ansible.utils.ipaddr('10.0.0.0/8')",
    "'10.0.0.0/24' | ansible.utils.ipaddr('5')", "'10.0.0.1' | ansible.utils.ipaddr('5')", "'10.0.0.1' | ansible.utils.ipaddr('-1')",
    "'10.0.0.1' | ansible.utils.ipaddr('1.5')", "'192.168.0.1' | ansible.utils.ipaddr('address', version=4)",
    "['192.168.1.1', 'x', '10.0.0.0/8', '::1', 5, ''] | ansible.utils.ipaddr",
    "['192.168.1.1', 'x', '10.0.0.0/8', '::1'] | ansible.utils.ipaddr('network')",
    "['10.0.0.1', '8.8.8.8', '192.168.1.1', '2001:db8::1', '2a00:1450::1'] | ansible.utils.ipaddr('private')",
    "['10.0.0.1', '8.8.8.8', '192.168.1.1', '2001:db8::1', '2a00:1450::1'] | ansible.utils.ipaddr('public')",
    "['10.0.0.1', '10.1.0.1', '192.168.1.1'] | ansible.utils.ipaddr('10.0.0.0/15')",
    "['10.0.0.0/24', '10.0.0.1', '0.0.0.0/0'] | ansible.utils.ipaddr('prefix')",
    "['10.0.0.1', '::1', 'fe80::1/64', 'x'] | ansible.utils.ipv4", "['10.0.0.1', '::1', 'fe80::1/64', 'x'] | ansible.utils.ipv6",
    "'10.0.0.1' | ansible.utils.ipv4", "'10.0.0.1' | ansible.utils.ipv6", "'10.0.0.1/24' | ansible.utils.ipv4('network')",
    "'10.0.0.1' | ansible.utils.ipv4('ipv6')", "'::ffff:10.0.0.1' | ansible.utils.ipv6('ipv4')", "'2001:db8::5/64' | ansible.utils.ipv6('address')",
    "'192.0.2.1' | ansible.utils.ipaddr('public')", "'100.64.0.1' | ansible.utils.ipaddr('private')", "'255.255.255.0' | ansible.utils.ipaddr('public')",
    "'127.0.0.1' | ansible.utils.ipaddr('loopback')", "'224.0.0.1' | ansible.utils.ipaddr('multicast')", "'169.254.3.4' | ansible.utils.ipaddr('link-local')",
    "'::' | ansible.utils.ipaddr", "'0.0.0.0' | ansible.utils.ipaddr", "'0.0.0.0/0' | ansible.utils.ipaddr('size')",
    "'1:0:0:2:0:0:3:4' | ansible.utils.ipaddr", "'2001:DB8:0:0::1' | ansible.utils.ipaddr", "'::1.2.3.4' | ansible.utils.ipaddr",
    "'2001:db8::1' | ansible.utils.ipaddr('int')", "'fe80::1%eth0' | ansible.utils.ipaddr",
    "'192.168.1.1' | ansible.utils.ipwrap", "'2001:db8::1' | ansible.utils.ipwrap", "'2001:db8::/64' | ansible.utils.ipwrap",
    "['192.168.1.1', '::1', 'host.example.com', '::/0'] | ansible.utils.ipwrap", "'host.example.com' | ansible.utils.ipwrap",
    "'192.168.1.5' | ansible.utils.ipmath(3)", "'192.168.1.5' | ansible.utils.ipmath(-10)", "'192.168.0.1/24' | ansible.utils.ipmath(300)",
    "'2001:db8::1' | ansible.utils.ipmath(255)", "'255.255.255.255' | ansible.utils.ipmath(1)", "'x' | ansible.utils.ipmath(1)",
    "'10.0.0.1' | ansible.utils.ipmath('2')", "'10.0.0.1' | ansible.utils.ipmath('a')",
    "'192.168.0.0/16' | ansible.utils.ipsubnet", "'192.168.0.1' | ansible.utils.ipsubnet", "'192.168.0.0/16' | ansible.utils.ipsubnet(20)",
    "'192.168.0.0/16' | ansible.utils.ipsubnet(20, 0)", "'192.168.0.0/16' | ansible.utils.ipsubnet(20, 3)", "'192.168.0.0/16' | ansible.utils.ipsubnet(20, -1)",
    "'192.168.0.0/16' | ansible.utils.ipsubnet(20, 16)", "'192.168.0.0/16' | ansible.utils.ipsubnet(8)", "'192.168.0.0/16' | ansible.utils.ipsubnet(40)",
    "'192.168.144.5' | ansible.utils.ipsubnet(20)", "'192.168.144.5' | ansible.utils.ipsubnet(18, 0)", "'192.168.144.5' | ansible.utils.ipsubnet(18, 2)",
    "'192.168.144.5' | ansible.utils.ipsubnet('192.168.0.0/16')", "'192.168.144.0/24' | ansible.utils.ipsubnet('192.168.0.0/16')",
    "'10.0.0.0/24' | ansible.utils.ipsubnet('192.168.0.0/16')", "'2001:db8::/32' | ansible.utils.ipsubnet(48, 5)", "'x' | ansible.utils.ipsubnet",
    "'192.168.0.0/24' | ansible.utils.nthhost(10)", "'192.168.0.0/24' | ansible.utils.nthhost(-1)", "'192.168.0.0/24' | ansible.utils.nthhost(300)",
    "'192.168.0.5/24' | ansible.utils.nthhost(0)", "'2001:db8::/64' | ansible.utils.nthhost(257)", "'x' | ansible.utils.nthhost(1)",
    "'10.0.0.1' | ansible.utils.nthhost(0)",
    "'192.168.0.0/24' | ansible.utils.network_in_usable('192.168.0.1')", "'192.168.0.0/24' | ansible.utils.network_in_usable('192.168.0.255')",
    "'192.168.0.0/24' | ansible.utils.network_in_usable('192.168.0.0/26')", "'192.168.0.0/24' | ansible.utils.network_in_usable('192.168.1.1')",
    "'192.168.0.0/16' | ansible.utils.network_in_usable('192.168.0.0/24')",
]:
    case(e)


# ---------------------------------------------------------------- community.general json_query / dict_kv / from_csv
for e in [
    "users | community.general.json_query('[].name')", "users | community.general.json_query('[?active].name')",
    "users | community.general.json_query('[?uid > `1000`].{n: name, u: uid}')", "pkgs | community.general.json_query('*.version')",
    "pkgs | community.general.json_query('nginx.state')", "conf | community.general.json_query('b.d[1]')",
    "users | community.general.json_query('[?contains(groups, `dev`)].name')", "users | community.general.json_query('length(@)')",
    "users | community.general.json_query('max_by(@, &uid).name')", "users | community.general.json_query('sort_by(@, &uid)[].name')",
    "users | community.general.json_query(\"[?shell=='/bin/bash'].name | [0]\")", "users | community.general.json_query('[].groups[]')",
    "users | community.general.json_query('nothing')", "users | community.general.json_query('[')", "nums | community.general.json_query('sum(@)')",
    "nums | community.general.json_query('[?@ > `3`]')", "users | community.general.json_query(\"[?starts_with(name, 'a')].uid\")",
    "{'a': {'b': [1.5, 2]}} | community.general.json_query('a.b')", "users | json_query('[].uid')",
    "'v' | community.general.dict_kv('k')", "users[0].name | community.general.dict_kv('user')", "[1, 2] | community.general.dict_kv(5)",
    "items | map('community.general.dict_kv', 'item') | list",
    "'a,b,c\\n1,2,3\\n4,5,6' | community.general.from_csv", "'name,age\\n\"Doe, J\",42\\n' | community.general.from_csv",
    "'a;b\\n1;2' | community.general.from_csv(delimiter=';')", "'a\\tb\\n1\\t2' | community.general.from_csv(dialect='excel-tab')",
    "'1,2\\n3,4' | community.general.from_csv(fieldnames=['x', 'y'])", "'a, b\\n1, 2' | community.general.from_csv(skipinitialspace=true)",
    "'a,b\\n1,2,3\\n4' | community.general.from_csv", "'a,b\\n\\n1,2\\n\\n' | community.general.from_csv", "'' | community.general.from_csv",
    "'a,b\\n\"x\"\"y\",2' | community.general.from_csv", "'a,b\\n\"x\"y,2' | community.general.from_csv", "'a,b\\n\"x\"y,2' | community.general.from_csv(strict=true)",
    "'a\\n1' | community.general.from_csv(dialect='nope')", "'a,b\\r\\n1,2\\r\\n' | community.general.from_csv(dialect='unix')",
    "'a,a\\n1,2' | community.general.from_csv", "'a,b\\n\"multi\\nline\",2' | community.general.from_csv",
]:
    case(e)


# ---------------------------------------------------------------- Jinja2 builtins as Ansible runs them
for e in [
    "users | map(attribute='name') | list", "users | map(attribute='nope', default='d') | list", "users | map(attribute='groups.0', default='-') | list",
    "['a', 'B'] | map('upper') | list", "['a', 'b'] | map('regex_replace', 'a', 'x') | list", "[1, 2] | map('string') | list",
    "['1', '2'] | map('int') | list", "users | map(attribute='uid') | map('string') | join(',')",
    "nums | select('odd') | list", "nums | select('>', 3) | list", "nums | reject('even') | list", "nums | select | list", "[0, 1, '', 'a', none] | select | list",
    "['a', 'bb', 'ccc'] | select('match', 'b') | list", "nums | select('in', [1, 2]) | list", "nums | select('equalto', 1) | list",
    "users | selectattr('active') | map(attribute='name') | list", "users | selectattr('uid', '>', 1000) | map(attribute='name') | list",
    "users | rejectattr('uid', 'equalto', 1000) | map(attribute='name') | list", "users | selectattr('shell', '==', '/bin/bash') | map(attribute='name') | list",
    "users | selectattr('nope', 'defined') | list", "users | rejectattr('nope', 'undefined') | list", "users | selectattr('groups', 'contains', 'wheel') | list | length",
    "users | join(attribute='name')", "users | join(', ', attribute='name')", "[1, 2, 3] | join('-')", "['a', 'b'] | join", "[] | join(',')",
    "'42' | int", "'0x1A' | int(base=16)", "'1A' | int(0, 16)", "'0b101' | int(base=2)", "'12.7' | int", "'x' | int", "'x' | int(7)", "'x' | int(default=3)",
    "3.9 | int", "true | int", "none | int", "'  12 ' | int", "'1e3' | int", "'-5' | int",
    "'3.5' | float", "'x' | float", "'x' | float(1.5)", "5 | float", "'1e3' | float", "' 2.5 ' | float", "none | float", "true | float",
    "3.14159 | round", "3.14159 | round(2)", "2.5 | round", "3.5 | round", "-2.5 | round", "3.14159 | round(2, 'floor')", "3.14159 | round(1, 'ceil')", "5 | round",
    "1.15 | round(1)", "2.675 | round(2)", "3.7 | round(method='floor')", "3.1 | round(0, 'ceil')", "3 | round(1, 'bogus')",
    "nums | sort", "nums | sort(reverse=true)", "words | sort", "words | sort(case_sensitive=true)", "users | sort(attribute='uid') | map(attribute='name') | list",
    "users | sort(attribute='shell,uid') | map(attribute='name') | list", "users | sort(attribute='name', reverse=true) | map(attribute='name') | list", "[3, 'a'] | sort",
    "users | groupby('shell') | map('first') | list", "users | groupby('shell') | map('last') | map('length') | list", "users | groupby('active') | list | length",
    "(users | groupby('shell'))[0].grouper", "(users | groupby('shell'))[0].list | map(attribute='name') | list", "[{'a': 1}, {'a': 2}, {'b': 3}] | groupby('a', default=0) | map('first') | list",
    "nums | sum", "users | sum(attribute='uid')", "nums | sum(start=10)", "[[1], [2]] | sum(start=[])", "[1.5, 2] | sum", "[] | sum", "['a'] | sum",
    "nums | batch(3) | list", "nums | batch(3, 'x') | list", "nums | slice(3) | list", "nums | slice(3, 0) | list", "[] | batch(2) | list",
    "'one two  three' | wordcount", "'' | wordcount", "'a-b c' | wordcount",
    "'hello world foo bar' | truncate(9)", "'hello world foo bar' | truncate(9, true)", "'hello world foo bar' | truncate(9, false, '..')", "'short' | truncate(20)",
    "'hello world foo bar' | truncate(11, leeway=0)", "'hello world foo bar baz' | truncate(17)", "'abc' | truncate(2)",
    "'x' | center(5)", "'ab' | center(7)", "'abc' | center(2)", "'x' | center", 
    "'a\\nb\\n\\nc' | indent", "'a\\nb\\n\\nc' | indent(2)", "'a\\nb\\n\\nc' | indent(2, true)", "'a\\nb\\n\\nc' | indent(2, first=true, blank=true)",
    "'a\\nb' | indent('> ')", "'a\\nb\\n' | indent(2)", "'a' | indent(width=3, first=true)",
    "'abc' | list", "{'a': 1, 'b': 2} | list", "nums | list | length", "none | list",
    "nums | first", "nums | last", "'abc' | first", "'abc' | last", "[] | first", "{'a': 1} | first", "users | first | attr('name')",
    "nums | length", "'abc' | length", "{'a': 1} | length", "'abc' | count",
    "{'b': 1, 'a': 2, 'C': 3} | dictsort", "{'b': 1, 'a': 2, 'C': 3} | dictsort(true)", "{'b': 1, 'a': 3} | dictsort(by='value')",
    "{'b': 1, 'a': 3} | dictsort(reverse=true)", "{'b': 1, 'a': 3} | dictsort(false, 'value', true)",
    "'aaa' | replace('a', 'b')", "'aaa' | replace('a', 'b', 2)", "'hello' | replace('l', '')", "'abc' | replace('', '-')",
    "'  x  ' | trim", "'xxhixx' | trim('x')", "'..a.' | trim('.')", "'  x' | trim(' x')",
    "'hello world' | title", "'hELLO wORLD' | title", "\"it's a dog-eat-dog\" | title", "'hello World' | capitalize", "'HELLO' | capitalize", "'' | capitalize",
    "'Hello' | lower", "'Hello' | upper", "'a b' | urlencode", "[3, 1, 2] | reverse | list", "'abc' | reverse", "-3 | abs", "'%s-%d' | format('a', 3)",
    "'<b>' | escape", "{'a': 1} | items | list", "[1, 2, 3] | random(seed=1) is number", "'a b' | striptags", "nums | unique | list",
    "[1, 2] | tojson", "'x' | string", "5 | string", "none | string", "['a', 'b'] | map('upper') | join", "range(3) | list", "range(1, 10, 3) | list",
    "users | map(attribute='name') | select('ne', 'bob') | list", "users | map(attribute='name') | reject('equalto', 'bob') | list",
    "dict(a=1, b=2)", "lipsum(1, false, 3, 3) | length > 0", "nums | map('int') | sum",
]:
    case(e)


# ---------------------------------------------------------------- inventory_hostnames (from the groups variable)
GROUPS = {"all": ["web1", "web2", "db1", "solo"], "ungrouped": ["solo"], "web": ["web1", "web2"], "db": ["db1"],
          "prod": ["web1", "db1"]}
for e in [
    "query('inventory_hostnames', 'all')", "query('inventory_hostnames', 'web')", "query('inventory_hostnames', 'web:db')",
    "query('inventory_hostnames', 'web:&prod')", "query('inventory_hostnames', 'all:!web')", "query('inventory_hostnames', 'web*')",
    "query('inventory_hostnames', '~db\\\\d')", "query('inventory_hostnames', 'web[1]')", "query('inventory_hostnames', 'web[0:1]')",
    "query('inventory_hostnames', 'solo')", "query('inventory_hostnames', 'nothing')", "lookup('inventory_hostnames', 'web')",
    "query('inventory_hostnames', 'db,web')", "query('inventory_hostnames', 'prod:!db1')", "query('inventory_hostnames', 'web', 'db')",
    "query('inventory_hostnames', '!web')", "query('inventory_hostnames', 'ungrouped')",
]:
    case(e, groups=GROUPS)


# ---------------------------------------------------------------- undefined input
# Every filter and test fails on an undefined value ('x' is undefined), except the
# default/d/mandatory filters, type_debug and the defined/undefined tests; undefined
# arguments fail too (default's argument only when it is used).
def _plugin_names():
    import importlib
    import pkgutil

    import jinja2.filters
    import jinja2.tests

    import ansible.plugins.filter as af
    import ansible.plugins.test as at

    filters, tests = set(jinja2.filters.FILTERS), set(jinja2.tests.TESTS)
    for pkg, cls, acc, out in ((af, "FilterModule", "filters", filters), (at, "TestModule", "tests", tests)):
        for m in pkgutil.iter_modules(pkg.__path__):
            mod = importlib.import_module(f"{pkg.__name__}.{m.name}")
            if hasattr(mod, cls):
                out |= set(getattr(getattr(mod, cls)(), acc)())
    ident = lambda n: n.isidentifier()  # noqa: E731
    return sorted(filter(ident, filters)), sorted(filter(ident, tests))


_FILTERS, _TESTS = _plugin_names()
for f in _FILTERS:
    case(f"undefined_thing | {f}")
for t in _TESTS:
    case(f"undefined_thing is {t}")
for e in [
    "undefined_thing | ansible.builtin.int", "undefined_thing | ansible.builtin.to_json", "undefined_thing is ansible.builtin.none",
    "undefined_thing is ansible.builtin.defined", "undefined_thing | ansible.builtin.default(3)", "undefined_thing | ansible.builtin.type_debug",
    "conf.zz | int", "conf.zz is none", "conf.zz | type_debug", "conf.zz | string", "conf.b.zz | length", "conf.zz | default(4)",
    "1 | default(undefined_thing)", "undefined_thing | default(other_undefined)", "nums | join(undefined_thing)", "nums is sameas undefined_thing",
    "undefined_thing | ternary(1, 2)", "true | ternary(undefined_thing, 2)", "nums | combine(undefined_thing)", "conf | combine(undefined_thing)",
    "[undefined_thing] | length", "[undefined_thing, 1] | select('defined') | list", "[undefined_thing, 1] | reject('undefined') | list",
    "nums | map('default', undefined_thing) | list", "undefined_thing | mandatory('must be set')", "(undefined_thing) | string",
    "undefined_thing | default(none) | int", "1 if undefined_thing is string else 2", "'a' | regex_replace(undefined_thing, 'b')",
    "undefined_thing | to_json(indent=2)", "nums | min(attribute=undefined_thing)",
]:
    case(e)

# ---------------------------------------------------------------- attribute filters when items lack the attribute
for e in [
    "[{'a': 1}, {'a': 2}, {'b': 3}] | groupby('a') | list", "[{'a': 1}, {'b': 3}] | groupby('a', default=none) | list",
    "[{'a': 1}, {'a': 3}] | groupby('a', default=0) | map('first') | list", "[{'a': {'x': 1}}, {'a': {}}] | groupby('a.x', default=0) | list",
    "[{'a': 2}, {'a': 1}, {'a': 2}] | groupby('a', default=9) | map('last') | map('length') | list",
    "[{'a': 1}, {'b': 3}] | map(attribute='a', default=0) | list", "[{'a': 1}, {'b': 3}] | map(attribute='a') | list",
    "[{'a': 1}, {'b': 3}] | sort(attribute='a') | list", "[{'a': 1}, {'b': 3}] | sum(attribute='a')",
    "[{'a': 1}, {'b': 3}] | selectattr('a') | list", "[{'a': 1}, {'b': 3}] | selectattr('a', 'defined') | list",
    "[{'a': 1}, {'b': 3}] | rejectattr('a', 'defined') | list", "[{'a': 1}, {'b': 3}] | max(attribute='a')",
    "[{'a': 1}, {'b': 3}] | join(attribute='a')", "[{'a': 1}, {'b': 3}] | map(attribute='a', default=none) | list",
]:
    case(e)

# ---------------------------------------------------------------- collection filters by short name
# ansible-core's routing sends json_query to community.general, and ipaddr/ipv4/ipv6 to
# ansible.netcommon, which the ansible package ships and which sends them on to ansible.utils;
# the other collection filters are known only by their FQCN.
for e in [
    "'10.0.0.1' | ipaddr", "'10.0.0.1' | ipv4", "'10.0.0.1' | ipv6", "'::1' | ipv6", "'10.0.0.0/24' | ipaddr('network')",
    "'10.0.0.1' | ipwrap", "'10.0.0.1' | ipmath(1)", "'10.0.0.0/24' | ipsubnet", "'10.0.0.0/24' | nthhost(1)",
    "'10.0.0.0/24' | network_in_usable('10.0.0.1')", "'a' | dict_kv('b')", "'a,b\\n1,2' | from_csv", "conf | json_query('b.c')",
    "'10.0.0.1' | ansible.netcommon.ipaddr", "'10.0.0.1' | ansible.netcommon.ipwrap",
]:
    case(e)


def to_jsonable(v):
    if isinstance(v, bool) or v is None or isinstance(v, (int, float, str)):
        if isinstance(v, str):
            return str(v)
        if isinstance(v, int) and not isinstance(v, bool):
            return int(v)
        if isinstance(v, float):
            return float(v)
        return v
    if isinstance(v, dict):
        return {str(k): to_jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_jsonable(x) for x in v]
    if isinstance(v, datetime.datetime):
        return {"__datetime__": str(v)}
    if hasattr(v, "__iter__"):
        return [to_jsonable(x) for x in v]
    return {"__repr__": repr(v)}


def main():
    out = []
    for expr, extra in C:
        vars_ = dict(V)
        vars_.update(extra)
        sub = json.loads(json.dumps(vars_).replace("@DATA@", DATA))
        expr_real = expr.replace("@DATA@", DATA)
        templar = Templar(loader=DataLoader(), variables=sub)
        entry = {"expr": expr}
        if extra:
            entry["vars"] = extra
        try:
            r = templar.template(trust_as_template("{{ " + expr_real + " }}"))
            entry["value"] = json.loads(json.dumps(to_jsonable(r)).replace(DATA, "@DATA@"))
        except Exception as ex:  # noqa: BLE001
            msg = str(ex)
            cause = ex.__cause__
            while cause is not None:
                msg += " <- " + str(cause)
                cause = cause.__cause__
            entry["error"] = msg.replace(DATA, "@DATA@")
        out.append(entry)
        if "No filter named" in entry.get("error", "") and ("ansible.utils." in expr or "community.general." in expr):
            sys.exit(f"collection filter missing for {expr!r}: {entry['error']}")
        if expr == "'10.0.0.1' | ipaddr" and "error" in entry:
            sys.exit("ansible.netcommon is missing from ANSIBLE_COLLECTIONS_PATH (short ipaddr)")
    doc = {"ansible_core": "2.21.5", "vars": V, "cases": out}
    with open(os.path.join(HERE, "lib_corpus.json"), "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{len(out)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
