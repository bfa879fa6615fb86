#!/work/ansible-venv/bin/python
"""Record golden output from real ansible-playbook (ansible-core 2.21.5).

For every tests/scenarios/NAME.yml this runs `ansible-playbook -c local -i localhost,`
from a fixed scratch directory (/tmp/agent-report-golden) so paths are stable, and writes:
  golden/NAME.out     stdout of the default callback
  golden/NAME.err     stderr of the default callback (warnings)
  golden/NAME.events.json   the callback events (recorded by tests/recorder/recorder.py)
  golden/NAME.json    stdout of the ansible.posix json callback (only with `# json: yes`),
                      with ids and timestamps normalised
Header lines in the scenario: `# args: ...` extra CLI args, `# env: K=V ...` extra env,
`# json: yes`.  The json callback needs ansible.posix at $ANSIBLE_POSIX_PATH
(default /tmp/coll, e.g. extracted from the `ansible` wheel on PyPI).
Usage: tests/record.py [NAME...]
"""
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCEN = os.path.join(HERE, 'scenarios')
GOLD = os.path.join(HERE, 'golden')
WORK = '/tmp/agent-report-golden'
VENV = '/work/ansible-venv/bin'


def header(text, key):
    for line in text.splitlines():
        m = re.match(r'#\s*%s:\s*(.*)$' % key, line)
        if m:
            return m.group(1).strip()
    return ''


def normalise_json(text):
    text = re.sub(r'"id": "[0-9a-f-]+"', '"id": "ID"', text)
    text = re.sub(r'"(start|end)": "[0-9T:.\-]+Z"', r'"\1": "TIME"', text)
    text = re.sub(r'ansible-tmp-[0-9.\-]+', 'ansible-tmp-X', text)
    return text


def run(name, callback, events=None):
    src = open(os.path.join(SCEN, name + '.yml')).read()
    env = dict(os.environ)
    for k in [k for k in env if k.startswith('ANSIBLE_')]:
        del env[k]
    env.update({
        'ANSIBLE_PYTHON_INTERPRETER': VENV + '/python',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_NOCOWS': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'ANSIBLE_CALLBACK_PLUGINS': os.path.join(HERE, 'recorder'),
        'ANSIBLE_COLLECTIONS_PATH': os.environ.get('ANSIBLE_POSIX_PATH', '/tmp/coll'),
        'ANSIBLE_STDOUT_CALLBACK': callback,
        'ANSIBLE_ROLES_PATH': os.path.join(WORK, 'roles'),
        'LC_ALL': 'C.UTF-8',
    })
    if events:
        env['ANSIBLE_CALLBACKS_ENABLED'] = 'recorder'
        env['AGENT_REPORT_EVENTS'] = events
    for kv in header(src, 'env').split():
        k, v = kv.split('=', 1)
        env[k] = v
        if k == 'ANSIBLE_FORCE_COLOR':
            env.pop('ANSIBLE_NOCOLOR', None)
    # fresh scratch dir each run so "changed" is reproducible
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    shutil.copytree(os.path.join(SCEN, 'roles'), os.path.join(WORK, 'roles'))
    play = os.path.join(WORK, name + '.yml')
    with open(play, 'w') as f:
        f.write(src)
    args = [VENV + '/ansible-playbook', '-c', 'local', '-i', 'localhost,', play] + header(src, 'args').split()
    p = subprocess.run(args, cwd=WORK, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return p


def main():
    names = sys.argv[1:] or sorted(f[:-4] for f in os.listdir(SCEN) if f.endswith('.yml'))
    for name in names:
        ev = os.path.join(GOLD, name + '.events.json')
        p = run(name, 'default', ev)
        with open(os.path.join(GOLD, name + '.out'), 'w') as f:
            f.write(p.stdout)
        with open(os.path.join(GOLD, name + '.err'), 'w') as f:
            f.write(p.stderr)
        print('%s: rc=%d' % (name, p.returncode))
        src = open(os.path.join(SCEN, name + '.yml')).read()
        if header(src, 'json') == 'yes':
            pj = run(name, 'ansible.posix.json')
            with open(os.path.join(GOLD, name + '.json'), 'w') as f:
                f.write(normalise_json(pj.stdout))
            print('%s (json): rc=%d %s' % (name, pj.returncode, pj.stderr.strip()[:200]))


if __name__ == '__main__':
    main()
