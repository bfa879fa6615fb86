#!/usr/bin/env python
"""Record what real ansible-core makes of every inventory case under tests/data/.

Run with the venv's Python:  /work/ansible-venv/bin/python agent/inventory/tests/gen_expected.py
For each case directory it writes expected.json:
  {"groups": {group: [hosts]}, "hosts": {host: {"group_names": [...], "vars": {...}}},
   "select": [[pattern, limit, [hosts] or "ERROR"]]}
or {"error": "..."} when Ansible cannot parse the inventory.

Case files: `sources` (one inventory path per line, relative to the case; default
`inventory`), an optional `playbook/` directory (its group_vars/host_vars apply as the
playbook's), and optional `patterns` (one host pattern per line; `PATTERN<TAB>LIMIT` for a
--limit). Absolute paths of the case are written as {CASE}.
"""
import json
import os
import sys

os.environ["ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED"] = "1"
os.environ["ANSIBLE_INVENTORY_UNPARSED_WARNING"] = "0"

from ansible.errors import AnsibleError  # noqa: E402
from ansible.inventory.manager import InventoryManager  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.vars.manager import VariableManager  # noqa: E402
from ansible.plugins.loader import init_plugin_loader  # noqa: E402

init_plugin_loader()

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")

# Added by VariableManager, not inventory variables.
MAGIC = {
    "ansible_facts", "playbook_dir", "ansible_playbook_python", "ansible_config_file",
    "groups", "ansible_version", "omit", "ansible_check_mode", "ansible_diff_mode",
    "ansible_forks", "ansible_inventory_sources", "ansible_skip_tags", "ansible_run_tags",
    "ansible_verbosity", "ansible_local", "ansible_python_interpreter",
}


def plain(v, case):
    if isinstance(v, str):
        return str(v).replace(case, "{CASE}")
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, dict):
        return {str(plain(k, case)): plain(x, case) for k, x in v.items()}
    if isinstance(v, (list, tuple, set)):
        return [plain(x, case) for x in v]
    return str(v)


def record(case):
    sources_file = os.path.join(case, "sources")
    if os.path.exists(sources_file):
        with open(sources_file) as f:
            names = [l.strip() for l in f if l.strip()]
    else:
        names = ["inventory"]
    sources = [n if ("," in n and not os.path.exists(os.path.join(case, n))) else os.path.join(case, n) for n in names]
    loader = DataLoader()
    pb = os.path.join(case, "playbook")
    if os.path.isdir(pb):
        loader.set_basedir(pb)
    try:
        inv = InventoryManager(loader=loader, sources=sources)
    except AnsibleError as e:
        return {"error": str(e.message).replace(case, "{CASE}")}
    vm = VariableManager(loader=loader, inventory=inv)
    vm.safe_basedir = os.path.isdir(pb)
    out = {"groups": plain(inv._inventory.get_groups_dict(), case), "hosts": {}, "select": []}
    for name, h in inv._inventory.hosts.items():
        try:
            v = vm.get_vars(host=h, include_hostvars=False)
        except AnsibleError as e:
            return {"error": str(e.message).replace(case, "{CASE}")}
        v = {k: x for k, x in v.items() if k not in MAGIC}
        out["hosts"][name] = {
            "group_names": plain(h.get_vars()["group_names"], case),
            "vars": plain(v, case),
        }
    pfile = os.path.join(case, "patterns")
    if os.path.exists(pfile):
        with open(pfile) as f:
            for line in f:
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                pattern, _, limit = line.partition("\t")
                limit = limit or None
                if limit and "@" in limit:
                    limit = limit.replace("@", "@" + case + "/")
                inv.clear_pattern_cache()
                inv._hosts_patterns_cache = {}
                try:
                    inv.subset(limit)
                    hosts = [h.name for h in inv.get_hosts(pattern)]
                    if not hosts and pattern in ("localhost", "127.0.0.1", "::1"):
                        hosts = inv.list_hosts(pattern)
                    res = hosts
                except AnsibleError:
                    res = "ERROR"
                inv.subset(None)
                out["select"].append([pattern, line.partition("\t")[2] or None, res])
    lh = inv._inventory.localhost
    if lh is not None and lh.implicit:
        v = vm.get_vars(host=lh, include_hostvars=False)
        v = {k: x for k, x in v.items() if k not in MAGIC}
        out["implicit"] = {lh.name: {"group_names": [], "vars": plain(v, case)}}
    return out


def main():
    only = sys.argv[1:]
    for name in sorted(os.listdir(DATA)):
        case = os.path.join(DATA, name)
        if not os.path.isdir(case) or (only and name not in only):
            continue
        res = record(case)
        with open(os.path.join(case, "expected.json"), "w") as f:
            json.dump(res, f, indent=1, sort_keys=False)
            f.write("\n")
        print(name, "error" if "error" in res else "%d hosts" % len(res["hosts"]))


if __name__ == "__main__":
    main()
