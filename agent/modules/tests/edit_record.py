#!/usr/bin/env python3
"""Record what real Ansible does for the edit-module test cases (lineinfile,
blockinfile, replace, template, command, shell) into edit_ansible.json, which
tests/edit_ansible.rs replays against our modules (no Python needed at test time).

Run: /work/ansible-venv/bin/python agent/modules/tests/edit_record.py
Each case runs in its own directory; "@DIR@" in args/results stands for it.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.environ.get("ANSIBLE_VENV", "/work/ansible-venv")

F = "@DIR@/f"
CASES = [
    # ---- lineinfile
    ("li_add_eof", "lineinfile", {"path": F, "line": "x"}, {"f": "a\nb\n"}),
    ("li_add_no_final_newline", "lineinfile", {"path": F, "line": "x"}, {"f": "a\nb"}),
    ("li_present_already", "lineinfile", {"path": F, "line": "b"}, {"f": "a\nb\n"}),
    ("li_replace_regexp", "lineinfile", {"path": F, "regexp": "^b=", "line": "b=2"}, {"f": "a=1\nb=1\nc=1\n"}),
    ("li_replace_last_match", "lineinfile", {"path": F, "regexp": "^b", "line": "B"}, {"f": "b1\nb2\nc\n"}),
    ("li_replace_firstmatch", "lineinfile", {"path": F, "regexp": "^b", "line": "B", "firstmatch": True}, {"f": "b1\nb2\nc\n"}),
    ("li_regexp_dollar", "lineinfile", {"path": F, "regexp": "^b$", "line": "B"}, {"f": "a\nb\nc\n"}),
    ("li_regexp_nomatch_add", "lineinfile", {"path": F, "regexp": "^zz", "line": "z"}, {"f": "a\n"}),
    ("li_search_string", "lineinfile", {"path": F, "search_string": "b.c", "line": "X"}, {"f": "abc\nb.c here\n"}),
    ("li_backrefs", "lineinfile", {"path": F, "regexp": r"^(\w+)=(\d+)$", "line": r"\2=\1 \g<1>", "backrefs": True}, {"f": "k=5\n"}),
    ("li_backrefs_nomatch", "lineinfile", {"path": F, "regexp": "^nomatch(.*)", "line": r"\1", "backrefs": True}, {"f": "k=5\n"}),
    ("li_insertafter_regex", "lineinfile", {"path": F, "line": "new", "insertafter": "^\\[main\\]"}, {"f": "[main]\na\n[other]\nb\n"}),
    ("li_insertafter_last", "lineinfile", {"path": F, "line": "new", "insertafter": "^a"}, {"f": "a1\nx\na2\ny\n"}),
    ("li_insertafter_first", "lineinfile", {"path": F, "line": "new", "insertafter": "^a", "firstmatch": True}, {"f": "a1\nx\na2\ny\n"}),
    ("li_insertafter_at_end", "lineinfile", {"path": F, "line": "new", "insertafter": "^y"}, {"f": "x\ny"}),
    ("li_insertafter_nomatch", "lineinfile", {"path": F, "line": "new", "insertafter": "^zz"}, {"f": "x\n"}),
    ("li_insertbefore_regex", "lineinfile", {"path": F, "line": "new", "insertbefore": "^b"}, {"f": "a\nb\nc\n"}),
    ("li_insertbefore_first_line", "lineinfile", {"path": F, "line": "new", "insertbefore": "^a"}, {"f": "a\nb\n"}),
    ("li_insertbefore_bof", "lineinfile", {"path": F, "line": "new", "insertbefore": "BOF"}, {"f": "a\nb\n"}),
    ("li_insertbefore_already", "lineinfile", {"path": F, "line": "new", "insertbefore": "^b"}, {"f": "a\nnew\nb\n"}),
    ("li_insertafter_bof", "lineinfile", {"path": F, "line": "new", "insertafter": "BOF"}, {"f": "a\n"}),
    ("li_missing_file", "lineinfile", {"path": F, "line": "x"}, {}),
    ("li_create", "lineinfile", {"path": "@DIR@/sub/dir/f", "line": "x", "create": True}, {}),
    ("li_create_mode", "lineinfile", {"path": F, "line": "x", "create": True, "mode": "0600"}, {}),
    ("li_mode_only", "lineinfile", {"path": F, "line": "a", "mode": "0600"}, {"f": "a\n"}),
    ("li_absent_line", "lineinfile", {"path": F, "line": "b", "state": "absent"}, {"f": "a\nb\nc\nb\n"}),
    ("li_absent_regexp", "lineinfile", {"path": F, "regexp": "^#", "state": "absent"}, {"f": "#a\nb\n# c\n"}),
    ("li_absent_none", "lineinfile", {"path": F, "regexp": "^zz", "state": "absent"}, {"f": "a\n"}),
    ("li_absent_missing_file", "lineinfile", {"path": F, "line": "x", "state": "absent"}, {}),
    ("li_crlf", "lineinfile", {"path": F, "line": "x"}, {"f": "a\r\nb\r\n"}),
    ("li_check_mode", "lineinfile", {"path": F, "line": "x"}, {"f": "a\n"}, {"check": True}),
    ("li_check_create", "lineinfile", {"path": F, "line": "x", "create": True, "mode": "0600"}, {}, {"check": True}),
    ("li_is_dir", "lineinfile", {"path": "@DIR@/d", "line": "x"}, {"d/keep": ""}),
    ("li_backrefs_no_regexp", "lineinfile", {"path": F, "line": "x", "backrefs": True}, {"f": ""}),
    ("li_absent_nothing", "lineinfile", {"path": F, "state": "absent"}, {"f": "a\n"}),
    ("li_lookbehind", "lineinfile", {"path": F, "regexp": r"(?<=port=)\d+", "line": "port=8080"}, {"f": "port=80\n"}),
    ("li_validate_fail", "lineinfile", {"path": F, "line": "x", "validate": "/bin/false %s"}, {"f": "a\n"}),
    ("li_validate_ok", "lineinfile", {"path": F, "line": "x", "validate": "/bin/grep -q x %s"}, {"f": "a\n"}),
    ("li_excl", "lineinfile", {"path": F, "line": "x", "insertafter": "a", "insertbefore": "b"}, {"f": "a\n"}),
    ("li_unicode", "lineinfile", {"path": F, "regexp": "^é", "line": "é=ü"}, {"f": "a\né=1\n"}),
    # ---- blockinfile
    ("bi_insert_eof", "blockinfile", {"path": F, "block": "x=1\ny=2"}, {"f": "a\n"}),
    ("bi_insert_no_newline", "blockinfile", {"path": F, "block": "x=1\n"}, {"f": "a"}),
    ("bi_update", "blockinfile", {"path": F, "block": "new"}, {"f": "a\n# BEGIN ANSIBLE MANAGED BLOCK\nold\n# END ANSIBLE MANAGED BLOCK\nb\n"}),
    ("bi_same", "blockinfile", {"path": F, "block": "old"}, {"f": "a\n# BEGIN ANSIBLE MANAGED BLOCK\nold\n# END ANSIBLE MANAGED BLOCK\nb\n"}),
    ("bi_remove_empty_block", "blockinfile", {"path": F, "block": ""}, {"f": "a\n# BEGIN ANSIBLE MANAGED BLOCK\nold\n# END ANSIBLE MANAGED BLOCK\nb\n"}),
    ("bi_absent", "blockinfile", {"path": F, "state": "absent"}, {"f": "a\n# BEGIN ANSIBLE MANAGED BLOCK\nold\n# END ANSIBLE MANAGED BLOCK\nb\n"}),
    ("bi_absent_nothing", "blockinfile", {"path": F, "state": "absent"}, {"f": "a\n"}),
    ("bi_custom_marker", "blockinfile", {"path": F, "block": "x", "marker": "<!-- {mark} managed -->", "marker_begin": "START", "marker_end": "STOP"}, {"f": "<html>\n"}),
    ("bi_insertafter", "blockinfile", {"path": F, "block": "x", "insertafter": "^a"}, {"f": "a\nb\na2\nc\n"}),
    ("bi_insertbefore", "blockinfile", {"path": F, "block": "x", "insertbefore": "^b"}, {"f": "a\nb\nc\n"}),
    ("bi_insertbefore_bof", "blockinfile", {"path": F, "block": "x", "insertbefore": "BOF"}, {"f": "a\n"}),
    ("bi_insertafter_multiline", "blockinfile", {"path": F, "block": "x", "insertafter": "(?m)^b\\nc$"}, {"f": "a\nb\nc\nd\n"}),
    ("bi_newlines", "blockinfile", {"path": F, "block": "x", "insertafter": "^a", "prepend_newline": True, "append_newline": True}, {"f": "a\nb\n"}),
    ("bi_create", "blockinfile", {"path": F, "block": "x", "create": True}, {}),
    ("bi_missing", "blockinfile", {"path": F, "block": "x"}, {}),
    ("bi_absent_missing_create", "blockinfile", {"path": F, "state": "absent", "create": True}, {}),
    ("bi_check", "blockinfile", {"path": F, "block": "x"}, {"f": "a\n"}, {"check": True}),
    ("bi_crlf_keep", "blockinfile", {"path": F, "block": "x"}, {"f": "a\r\nb\r\n"}),
    ("bi_mode", "blockinfile", {"path": F, "block": "x", "mode": "0640"}, {"f": "a\n"}),
    # ---- replace
    ("re_simple", "replace", {"path": F, "regexp": "foo", "replace": "bar"}, {"f": "foo x foo\nfoo\n"}),
    ("re_groups", "replace", {"path": F, "regexp": r"^(\w+)\s*=\s*(.*)$", "replace": r"\1: \2"}, {"f": "a = 1\nb=2\n"}),
    ("re_named", "replace", {"path": F, "regexp": r"(?P<k>port) (\d+)", "replace": r"\g<k>=\2"}, {"f": "port 80\n"}),
    ("re_nomatch", "replace", {"path": F, "regexp": "zzz", "replace": "y"}, {"f": "abc\n"}),
    ("re_same_result", "replace", {"path": F, "regexp": "a", "replace": "a"}, {"f": "abc\n"}),
    ("re_after", "replace", {"path": F, "regexp": "x", "replace": "y", "after": "START"}, {"f": "x\nSTART\nx\n"}),
    ("re_before", "replace", {"path": F, "regexp": "x", "replace": "y", "before": "END"}, {"f": "x\nEND\nx\n"}),
    ("re_after_before", "replace", {"path": F, "regexp": "x", "replace": "y", "after": "<a>", "before": "</a>"}, {"f": "x<a>x x</a>x\n"}),
    ("re_after_nomatch", "replace", {"path": F, "regexp": "x", "replace": "y", "after": "NOPE"}, {"f": "x\n"}),
    ("re_delete_lines", "replace", {"path": F, "regexp": "^#.*\\n", "replace": ""}, {"f": "#a\nb\n#c\n"}),
    ("re_missing", "replace", {"path": F, "regexp": "x"}, {}),
    ("re_check", "replace", {"path": F, "regexp": "a", "replace": "b"}, {"f": "a\n"}, {"check": True}),
    ("re_bad_group", "replace", {"path": F, "regexp": "(a)", "replace": r"\2"}, {"f": "a\n"}),
    ("re_crlf", "replace", {"path": F, "regexp": "a", "replace": "b"}, {"f": "a\r\nc\r\n"}),
    ("re_escape_newline", "replace", {"path": F, "regexp": ";", "replace": r"\n"}, {"f": "a;b\n"}),
    ("re_dollar_multiline", "replace", {"path": F, "regexp": "$", "replace": ";"}, {"f": "a\nb\n"}),
    # ---- template
    ("tpl_new", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/out"}, {"t.j2": "hello {{ 1 + 1 }}\n"}),
    ("tpl_same", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/out"}, {"t.j2": "hello\n", "out": "hello\n"}),
    ("tpl_changed_mode", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/out", "mode": "0600"}, {"t.j2": "v2\n", "out": "v1\n"}),
    ("tpl_noforce", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/out", "force": False}, {"t.j2": "v2\n", "out": "v1\n"}),
    ("tpl_dir_dest", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/d/"}, {"t.j2": "x\n", "d/keep": ""}),
    ("tpl_check", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/out"}, {"t.j2": "x\n"}, {"check": True}),
    ("tpl_state", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/out", "state": "file"}, {"t.j2": "x\n"}),
    ("tpl_newline_seq", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/out", "newline_sequence": "\\r\\n"}, {"t.j2": "a\nb\n"}),
    ("tpl_bad_newline", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/out", "newline_sequence": "x"}, {"t.j2": "a\n"}),
    ("tpl_validate_fail", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/out", "validate": "/bin/false %s"}, {"t.j2": "a\n"}),
    ("tpl_no_dest_dir", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/nodir/out"}, {"t.j2": "a\n"}),
    ("tpl_trim_lstrip", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/out", "lstrip_blocks": True}, {"t.j2": "{% if true %}\nx\n{% endif %}\n  {% for i in [1, 2] %}\n{{ i }}\n  {% endfor %}\n"}),
    ("tpl_no_trim", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/out", "trim_blocks": False}, {"t.j2": "{% if true %}\nx\n{% endif %}\n"}),
    ("tpl_custom_strings", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/out", "variable_start_string": "[[", "variable_end_string": "]]"}, {"t.j2": "a={{ x }} b=[[ 1 + 2 ]]\n"}),
    ("tpl_follow", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/link", "follow": True}, {"t.j2": "new\n", "target": "old\n", "link": {"symlink": "target"}}),
    ("tpl_nofollow", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/link"}, {"t.j2": "new\n", "target": "old\n", "link": {"symlink": "target"}}),
    ("tpl_link_same", "template", {"src": "@DIR@/t.j2", "dest": "@DIR@/link"}, {"t.j2": "old\n", "target": "old\n", "link": {"symlink": "target"}}),
    ("li_follow_link", "lineinfile", {"path": "@DIR@/link", "line": "x"}, {"target": "a\n", "link": {"symlink": "target"}}),
    ("li_empty_regexp", "lineinfile", {"path": F, "regexp": "", "line": "x"}, {"f": "a\nb\n"}),
    ("li_literal_brace", "lineinfile", {"path": F, "regexp": "^foo{bar", "line": "foo{baz"}, {"f": "foo{bar\n"}),
    ("li_value_alias", "lineinfile", {"dest": F, "value": "x", "regex": "^x"}, {"f": "y\n"}),
    ("bi_two_blocks", "blockinfile", {"path": F, "block": "two", "marker": "# {mark} B2"}, {"f": "# BEGIN ANSIBLE MANAGED BLOCK\none\n# END ANSIBLE MANAGED BLOCK\n"}),
    ("bi_markers_reversed", "blockinfile", {"path": F, "block": "new"}, {"f": "a\n# END ANSIBLE MANAGED BLOCK\nmid\n# BEGIN ANSIBLE MANAGED BLOCK\nb\n"}),
    ("re_unicode", "replace", {"path": F, "regexp": r"(\w+)é", "replace": r"<\1>"}, {"f": "caféé naïvé\n"}),
    ("re_lookahead", "replace", {"path": F, "regexp": r"^(?!#)(\w+)", "replace": r"#\1"}, {"f": "a\n#b\nc\n"}),
    # ---- command / shell
    ("cmd_executable_warning", "command", {"_raw_params": "echo x", "executable": "/bin/bash"}, {}),
    ("cmd_echo", "command", {"_raw_params": "echo hello world"}, {}),
    ("cmd_argv", "command", {"argv": ["printf", "%s|", "a b", "c"]}, {}),
    ("cmd_quotes", "command", {"_raw_params": "printf '%s\\n' \"a b\" 'c d'"}, {}),
    ("cmd_rc", "command", {"_raw_params": "false"}, {}),
    ("cmd_notfound", "command", {"_raw_params": "nosuchcommand-xyz a"}, {}),
    ("cmd_chdir", "command", {"_raw_params": "pwd", "chdir": "@DIR@"}, {}),
    ("cmd_chdir_missing", "command", {"_raw_params": "pwd", "chdir": "@DIR@/nope"}, {}),
    ("cmd_creates_exists", "command", {"_raw_params": "touch @DIR@/c", "creates": "@DIR@/c"}, {"c": ""}),
    ("cmd_creates_glob", "command", {"_raw_params": "touch @DIR@/c", "creates": "@DIR@/*.txt"}, {"a.txt": ""}),
    ("cmd_creates_relative", "command", {"_raw_params": "touch c", "creates": "c", "chdir": "@DIR@"}, {"c": ""}),
    ("cmd_creates_missing", "command", {"_raw_params": "touch @DIR@/c", "creates": "@DIR@/c"}, {}),
    ("cmd_removes_missing", "command", {"_raw_params": "rm @DIR@/c", "removes": "@DIR@/c"}, {}),
    ("cmd_removes_exists", "command", {"_raw_params": "rm @DIR@/c", "removes": "@DIR@/c"}, {"c": ""}),
    ("cmd_check", "command", {"_raw_params": "touch @DIR@/c"}, {}, {"check": True}),
    ("cmd_check_creates", "command", {"_raw_params": "touch @DIR@/c", "creates": "@DIR@/c"}, {}, {"check": True}),
    ("cmd_check_creates_exists", "command", {"_raw_params": "touch @DIR@/c", "creates": "@DIR@/c"}, {"c": ""}, {"check": True}),
    ("cmd_stdin", "command", {"_raw_params": "cat", "stdin": "in put"}, {}),
    ("cmd_stdin_nonl", "command", {"_raw_params": "od -c", "stdin": "x", "stdin_add_newline": False}, {}),
    ("cmd_no_strip", "command", {"_raw_params": "printf 'a\\n\\n'", "strip_empty_ends": False}, {}),
    ("cmd_vars", "command", {"_raw_params": "echo $HOME ~ '$NOPE_X'"}, {}),
    ("cmd_no_expand", "command", {"_raw_params": "echo $HOME", "expand_argument_vars": False}, {}),
    ("cmd_no_shell", "command", {"_raw_params": "echo a | wc"}, {}),
    ("cmd_stderr", "command", {"argv": ["sh", "-c", "echo out; echo err >&2; echo l2 >&2"]}, {}),
    ("sh_pipe", "shell", {"_raw_params": "echo a b | wc -w"}, {}),
    ("sh_rc", "shell", {"_raw_params": "echo oops >&2; exit 3"}, {}),
    ("sh_notfound", "shell", {"_raw_params": "nosuchcommand-xyz"}, {}),
    ("sh_executable", "shell", {"_raw_params": "echo $0", "executable": "/bin/bash"}, {}),
    ("sh_creates", "shell", {"_raw_params": "echo x > @DIR@/c", "creates": "@DIR@/c"}, {}),
    ("sh_cmd_arg", "shell", {"cmd": "echo from cmd"}, {}),
    ("sh_multiline", "shell", {"_raw_params": "echo one\necho two\n"}, {}),
    ("sh_check", "shell", {"_raw_params": "echo x"}, {}, {"check": True}),
]

# Result keys compared (others vary or are Ansible-internal).
KEEP = {"changed", "failed", "msg", "rc", "stdout", "stderr", "stdout_lines", "stderr_lines",
        "cmd", "found", "skipped", "diff", "checksum", "md5sum", "size", "mode", "state",
        "dest", "path", "backup", "exit_status", "warnings"}


def write_files(d, files):
    for rel, content in files.items():
        p = os.path.join(d, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if isinstance(content, dict):
            os.symlink(content["symlink"], p)
        elif content is not None:
            with open(p, "w", newline="") as f:
                f.write(content)


def snapshot(d):
    out = {}
    for root, dirs, files in os.walk(d):
        for name in files:
            p = os.path.join(root, name)
            rel = os.path.relpath(p, d)
            if rel.startswith("_"):
                continue
            if os.path.islink(p):
                out[rel] = {"link": os.readlink(p)}
                continue
            with open(p, "rb") as f:
                data = f.read()
            mode = "%04o" % (os.stat(p).st_mode & 0o7777)
            out[rel] = {"content": data.decode("utf-8", "replace"), "mode": mode}
    return out


def subst(v, d):
    if isinstance(v, str):
        return v.replace("@DIR@", d)
    if isinstance(v, list):
        return [subst(x, d) for x in v]
    if isinstance(v, dict):
        return {k: subst(x, d) for k, x in v.items()}
    return v


def unsubst(v, d):
    if isinstance(v, str):
        return v.replace(d, "@DIR@")
    if isinstance(v, list):
        return [unsubst(x, d) for x in v]
    if isinstance(v, dict):
        return {k: unsubst(x, d) for k, x in v.items()}
    return v


def main(cases=None, out_name="edit_ansible.json", env_extra=None):
    """Record `cases` (default: CASES) into `out_name` beside this script."""
    cases = CASES if cases is None else cases
    base = tempfile.mkdtemp(prefix="edit_record_")
    os.chmod(base, 0o755)
    tasks = []
    dirs = {}
    for case in cases:
        name, module, args, files = case[:4]
        opts = case[4] if len(case) > 4 else {}
        d = os.path.join(base, name)
        os.makedirs(d)
        dirs[name] = d
        write_files(d, files)
        a = subst(args, d)
        raw = a.pop("_raw_params", None)
        task = {"name": name, module: raw if raw is not None else a, "register": "r_" + name,
                "ignore_errors": True, "diff": True}
        if raw is not None and a:
            task["args"] = a
        if opts.get("check"):
            task["check_mode"] = True
        tasks.append(task)
    names = [c[0] for c in cases]
    dump = "{{ {" + ", ".join("'%s': r_%s" % (n, n) for n in names) + "} | to_json }}"
    tasks.append({"name": "dump", "copy": {"content": dump, "dest": os.path.join(base, "results.json")},
                  "diff": False})
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    pb = os.path.join(base, "play.yml")
    with open(pb, "w") as f:
        yaml.safe_dump(play, f, sort_keys=False)
    env = dict(os.environ, ANSIBLE_PYTHON_INTERPRETER=os.path.join(VENV, "bin/python"),
               ANSIBLE_NOCOLOR="1")
    env.update(env_extra or {})
    p = subprocess.run([os.path.join(VENV, "bin/ansible-playbook"), "-c", "local", "-i", "localhost,", pb],
                       env=env, capture_output=True, text=True)
    if not os.path.exists(os.path.join(base, "results.json")):
        sys.stderr.write(p.stdout + p.stderr)
        sys.exit(1)
    with open(os.path.join(base, "results.json")) as f:
        results = json.load(f)
    out = []
    for case in cases:
        name, module, args, files = case[:4]
        opts = case[4] if len(case) > 4 else {}
        d = dirs[name]
        r = {k: v for k, v in results[name].items() if k in KEEP}
        out.append({
            "name": name, "module": module, "args": args, "files": files,
            "check": bool(opts.get("check")),
            "result": unsubst(r, d),
            "after": unsubst(snapshot(d), d),
        })
    with open(os.path.join(HERE, out_name), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    shutil.rmtree(base)
    print("recorded %d cases" % len(out))


if __name__ == "__main__":
    main()
