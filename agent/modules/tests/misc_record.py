#!/usr/bin/env python3
"""Record what real Ansible does for the host-module cases that edit files
(community.general ini_file, pam_limits) into misc_ansible.json, replayed by
tests/edit_ansible.rs like edit_ansible.json.

Needs community.general from the ansible 11 wheel on the collections path:
  pip download --no-deps 'ansible==11.*' -d /tmp/a11 && unzip -q /tmp/a11/*.whl \
      'ansible_collections/community/general/*' -d /tmp/a11
  ANSIBLE_COLLECTIONS_PATH=/tmp/a11 /work/ansible-venv/bin/python agent/modules/tests/misc_record.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from edit_record import main  # noqa: E402

F = "@DIR@/f.ini"
INI = "community.general.ini_file"
PAM = "community.general.pam_limits"
LIM = "@DIR@/limits.conf"


def ini(name, args, content=None, **opts):
    files = {} if content is None else {"f.ini": content}
    return ("ini_" + name, INI, dict({"path": F}, **args), files, opts)


def pam(name, args, content=None, **opts):
    files = {} if content is None else {"limits.conf": content}
    return ("pam_" + name, PAM, dict({"dest": LIM}, **args), files, opts)


S = {"section": "s", "option": "o"}
CASES = [
    ini("new_file", dict(S, value="v")),
    ini("new_file_no_section", {"option": "o", "value": "v"}),
    ini("new_subdir", dict(S, value="v", path="@DIR@/sub/f.ini")),
    ini("no_create", dict(S, value="v", create=False)),
    ini("replace_value", dict(S, value="new"), "[s]\no = old\n"),
    ini("same_value", dict(S, value="v"), "[s]\no = v\n"),
    ini("no_final_newline", dict(S, value="v"), "[s]\no = v"),
    ini("append_before_blank", {"section": "a", "option": "z", "value": "3"},
        "[a]\nx = 1\n\n# c\n[b]\ny = 2\n"),
    ini("reuse_commented", dict(S, value="v"), "[s]\n# o = v\n"),
    ini("replace_commented_other", dict(S, value="v"), "[s]\n;o = w\nq = 1\n"),
    ini("values_exclusive", dict(S, values=["b", "d"]), "[s]\no = a\no = b\no = c\n"),
    ini("values_not_exclusive", dict(S, values=["b", "d"], exclusive=False), "[s]\no = a\no = b\no = c\n"),
    ini("values_dup", dict(S, values=["x", "x", "y"]), "[s]\n"),
    ini("absent_option", dict(S, state="absent"), "[s]\no = 1\np = 2\no=3\n"),
    ini("absent_value_not_exclusive", dict(S, state="absent", values=["2"], exclusive=False),
        "[s]\no = 1\no = 2\n"),
    ini("absent_section", {"section": "s", "state": "absent"}, "[s]\no = 1\n[t]\np = 2\n"),
    ini("absent_missing_section", {"section": "zz", "state": "absent"}, "[s]\no = 1\n"),
    ini("absent_missing_file", dict(S, state="absent")),
    ini("no_extra_spaces", dict(S, value="v", no_extra_spaces=True), "[s]\n"),
    ini("allow_no_value", dict(S, allow_no_value=True), "[s]\na = 1\n"),
    ini("allow_no_value_present", dict(S, allow_no_value=True), "[s]\no\n"),
    ini("ignore_spaces_same", dict(S, value="v", ignore_spaces=True), "[s]\no=v\n"),
    ini("spaces_differ", dict(S, value="v"), "[s]\no=v\n"),
    ini("top_level_with_sections", {"option": "o", "value": "v"}, "x = 1\n\n[s]\na = 1\n"),
    ini("top_level_empty_section", {"section": "", "option": "o", "value": "v"}, "[s]\na = 1\n"),
    ini("absent_top_quirk", {"state": "absent"}, "x = 1\n[s]\na = 1\n"),
    ini("section_spaces", dict(S, value="v"), "[ s ]\n"),
    ini("crlf_and_bom", dict(S, value="v"), "\ufeff[s]\r\no = 1\r\n"),
    ini("inactive_not_modified", dict(S, value="v", modify_inactive_option=False), "[s]\n# o = v\n"),
    ini("new_section_values", {"section": "b", "option": "o", "values": ["1", "2"]}, "[a]\n"),
    ini("duplicate_sections", {"section": "s", "option": "b", "value": "3"}, "[s]\na = 1\n[s]\nb = 2\n"),
    ini("other_section_only", dict(S, value="v"), "[t]\no = v\n"),
    ini("trailing_spaces_value", dict(S, value="v"), "[s]\no = v  \n"),
    ini("only_section", {"section": "n", "allow_no_value": True}, "[a]\n"),
    ini("has_values", {"section": "p", "option": "x", "value": "3",
                       "section_has_values": [{"option": "name", "values": ["b"]}]},
        "[p]\nname = a\nx = 1\n[p]\nname = b\nx = 2\n"),
    ini("has_values_missing", {"section": "p", "option": "x", "value": "3",
                               "section_has_values": [{"option": "name", "value": "c"},
                                                      {"option": "k"}]},
        "[p]\nname = a\n", allow_no_value=None),
    ini("mode_new", dict(S, value="v", mode="0600")),
    ini("mode_only", dict(S, value="v", mode="0600"), "[s]\no = v\n"),
    ini("check_new", dict(S, value="v"), None, check=True),
    ini("check_mode_only", dict(S, value="v", mode="0600"), "[s]\no = v\n", check=True),
    ini("value_required", {"section": "s", "option": "o"}, "[s]\n"),
    ini("value_and_values", dict(S, value="a", values=["b"]), "[s]\n"),
    ini("int_value", dict(S, value=5), "[s]\n"),
    ini("follow_link", dict(S, value="v", follow=True), None),
    ini("no_follow_link", dict(S, value="v"), None),
]
# Links: f.ini -> real.ini
for i, c in enumerate(CASES):
    if c[0] in ("ini_follow_link", "ini_no_follow_link"):
        CASES[i] = (c[0], c[1], c[2], {"real.ini": "[s]\no = 1\n", "f.ini": {"symlink": "real.ini"}}, c[4])
    if c[0] == "ini_has_values_missing":
        CASES[i] = (c[0], c[1], c[2], c[3], {})

P = {"domain": "*", "limit_type": "soft", "limit_item": "nofile", "value": "1024"}
LIMITS = "# /etc/security/limits.conf\n#\n#<domain> <type> <item> <value>\n\n@staff hard nproc 50\n# End of file\n"
CASES += [
    pam("new_file", P),
    pam("append", P, LIMITS),
    pam("change", dict(P, value="2048"), LIMITS + "*   soft   nofile   1024\n"),
    pam("same", P, LIMITS + "*\tsoft\tnofile\t1024\n"),
    pam("use_max_keep", dict(P, value="10", use_max=True), "* soft nofile 20\n"),
    pam("use_max_raise", dict(P, value="30", use_max=True), "* soft nofile 20\n"),
    pam("use_min_unlimited", dict(P, value="30", use_min=True), "* soft nofile unlimited\n"),
    pam("use_max_unlimited", dict(P, value="unlimited", use_max=True), "* soft nofile 20\n"),
    pam("comment_new", dict(P, comment="raised for app"), LIMITS),
    pam("old_comment_kept", dict(P, value="5"), "* soft nofile 4 # old\n"),
    pam("sticky_comment", P, "@a hard core 0 # first\n"),
    pam("bad_value", dict(P, value="lots"), LIMITS),
    pam("bad_existing", P, "* soft core many\n"),
    pam("nice_range", dict(P, limit_item="nice", value="25"), LIMITS),
    pam("nice_ok", dict(P, limit_item="nice", value="-5", limit_type="-"), LIMITS),
    pam("min_and_max", dict(P, use_min=True, use_max=True), LIMITS),
    pam("check", dict(P, value="2048"), "* soft nofile 1024\n", check=True),
    pam("missing_dir", dict(P, dest="@DIR@/no/limits.conf")),
    pam("two_matches", dict(P, value="7"), "* soft nofile 1\nx hard core 0\n* soft nofile 2\n"),
    pam("no_final_newline", P, "@staff hard nproc 50"),
    pam("short_line", P, "* soft nofile\n"),
]


if __name__ == "__main__":
    main(CASES, "misc_ansible.json")
