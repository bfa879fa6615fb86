"""Run the differential cases under real ansible-playbook and record expected.json.

Run through the `record` wrapper, which makes sure the ansible-core venv exists.
The tree records made here must stay identical to those made by tests/lib.rs.
"""

import argparse
import concurrent.futures
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
LOGS = os.path.join(HERE, ".logs")

# Inline file contents up to this many bytes (when UTF-8), else store sha256 + size.
INLINE_MAX = 4096
RUNS = ("first", "second", "check")
RECAP_RE = re.compile(
    r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)"
    r"\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)"
)
RECAP_KEYS = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
BACKUP_RE = re.compile(r"\.\d+\.\d{4}-\d{2}-\d{2}@\d{2}:\d{2}:\d{2}~$")


def parse_recap(stdout):
    recap = {}
    in_recap = False
    for line in stdout.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap:
            m = RECAP_RE.match(line)
            if m:
                recap[m.group(1)] = {k: int(v) for k, v in zip(RECAP_KEYS, m.groups()[1:])}
    return recap


def normalise(data, out, case_dir):
    data = data.replace(out.encode(), b"@OUT@")
    return data.replace(case_dir.encode(), b"@CASE@")


def owner(uid, mine):
    return "@me" if uid == mine else str(uid)


def tree(out, case_dir):
    entries = []
    for root, dirs, files in os.walk(out):
        dirs.sort()
        for name in sorted(dirs + files):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, out)
            rel = BACKUP_RE.sub(".@BACKUP@~", rel)
            st = os.lstat(full)
            entry = {"path": rel}
            if os.path.islink(full):
                entry["type"] = "link"
                target = normalise(os.readlink(full).encode(), out, case_dir)
                entry["target"] = target.decode("utf-8", "replace")
            else:
                if os.path.isdir(full):
                    entry["type"] = "dir"
                elif os.path.isfile(full):
                    entry["type"] = "file"
                else:
                    entry["type"] = "other"
                entry["mode"] = "%04o" % (st.st_mode & 0o7777)
            entry["owner"] = owner(st.st_uid, os.geteuid())
            entry["group"] = owner(st.st_gid, os.getegid())
            if entry["type"] == "file":
                with open(full, "rb") as f:
                    data = normalise(f.read(), out, case_dir)
                text = None
                if len(data) <= INLINE_MAX:
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        text = None
                if text is not None:
                    entry["content"] = text
                else:
                    entry["sha256"] = hashlib.sha256(data).hexdigest()
                    entry["size"] = len(data)
            entries.append(entry)
    entries.sort(key=lambda e: (e["path"], e.get("content", e.get("sha256", ""))))
    return entries


def case_args(case_dir):
    path = os.path.join(case_dir, "args")
    if not os.path.exists(path):
        return []
    args = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                args.append(line)
    return args


def run_case(name, venv):
    case_dir = os.path.join(CASES, name)
    scratch = tempfile.mkdtemp(prefix="agent-diff-")
    logs = os.path.join(LOGS, name)
    os.makedirs(logs, exist_ok=True)
    try:
        empty_cfg = os.path.join(scratch, "ansible.cfg")
        empty_inv = os.path.join(scratch, "empty-inventory")
        roles_path = os.path.join(scratch, "no-roles")
        home = os.path.join(scratch, "ansible-home")
        for p in (empty_cfg, empty_inv):
            open(p, "w").close()
        os.makedirs(roles_path)
        env = dict(os.environ)
        env.update(
            {
                "ANSIBLE_CONFIG": empty_cfg,
                "ANSIBLE_INVENTORY": empty_inv,
                "ANSIBLE_ROLES_PATH": roles_path,
                "ANSIBLE_HOME": home,
                "ANSIBLE_LOCAL_TEMP": os.path.join(home, "tmp"),
                "ANSIBLE_REMOTE_TEMP": os.path.join(home, "tmp"),
                "ANSIBLE_PYTHON_INTERPRETER": os.path.join(venv, "bin", "python"),
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0",
                "ANSIBLE_RETRY_FILES_ENABLED": "0",
                "ANSIBLE_LOCALHOST_WARNING": "0",
                "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
                "ANSIBLE_DEPRECATION_WARNINGS": "0",
                "ANSIBLE_STDOUT_CALLBACK": "default",
                "LANG": "C.UTF-8",
                "LC_ALL": "C.UTF-8",
            }
        )
        cmd = [os.path.join(venv, "bin", "ansible-playbook"), "play.yml"]
        if os.path.exists(os.path.join(case_dir, "inventory")):
            cmd += ["-i", "inventory"]
        cmd += case_args(case_dir)
        result = {}
        for run in RUNS:
            out = os.path.join(scratch, "check" if run == "check" else "run", "out")
            os.makedirs(out, exist_ok=True)
            full = cmd + ["-e", "out=" + out]
            if run == "check":
                full += ["--check", "--diff"]
            proc = subprocess.run(
                full, cwd=case_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            stdout = proc.stdout.decode("utf-8", "replace")
            with open(os.path.join(logs, run + ".log"), "w") as f:
                f.write("$ " + " ".join(full) + "\n" + stdout + "\nrc=%d\n" % proc.returncode)
            # The printed output, which the Rust side compares with the agent's.
            os.makedirs(os.path.join(case_dir, "output"), exist_ok=True)
            with open(os.path.join(case_dir, "output", run + ".txt"), "w") as f:
                f.write(stdout)
            result[run] = {
                "rc": proc.returncode,
                "recap": parse_recap(stdout),
                "tree": tree(out, case_dir),
            }
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def ansible_version(venv):
    proc = subprocess.run(
        [os.path.join(venv, "bin", "python"), "-c", "import ansible; print(ansible.__version__)"],
        stdout=subprocess.PIPE,
        check=True,
    )
    return proc.stdout.decode().strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--venv", required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--verify", action="store_true", help="compare, do not write")
    parser.add_argument("patterns", nargs="*")
    opts = parser.parse_args()

    os.umask(0o022)
    names = sorted(
        n for n in os.listdir(CASES) if os.path.exists(os.path.join(CASES, n, "play.yml"))
    )
    if opts.patterns:
        names = [n for n in names if any(fnmatch.fnmatch(n, "*" + p + "*") for p in opts.patterns)]
    version = ansible_version(opts.venv)
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        futures = {name: pool.submit(run_case, name, opts.venv) for name in names}
        for name in names:
            runs = futures[name].result()
            record = {"ansible_version": version, "runs": runs}
            path = os.path.join(CASES, name, "expected.json")
            text = json.dumps(record, indent=1, ensure_ascii=False) + "\n"
            summary = " ".join(
                "%s:rc=%d,%s" % (run, r["rc"], ",".join(
                    "%s=%s" % (k, sum(h[k] for h in r["recap"].values()))
                    for k in ("ok", "changed", "failed", "skipped")))
                for run, r in runs.items()
            )
            if opts.verify:
                with open(path) as f:
                    old = json.load(f)
                same = old["runs"] == runs
                if not same:
                    failed += 1
                print(("ok " if same else "FAIL ") + name + " " + summary, flush=True)
            else:
                with open(path, "w") as f:
                    f.write(text)
                print("recorded " + name + " " + summary, flush=True)
    if opts.verify:
        print("%d passed, %d failed" % (len(names) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
