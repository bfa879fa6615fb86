#!/usr/bin/env python3
"""Time ansible-core's Templar on the core conformance corpus (the Ansible side of
`cargo bench -p agent-template --bench render -- core_corpus`):

    /work/ansible-venv/bin/python agent/template/benches/ansible_corpus.py

Every case of tests/data/core_corpus.json is rendered (or evaluated as a conditional) with
the corpus variables, as the corpus generator does; failures count like successes. Prints
the mean time of one pass over all cases (best of 5 runs of 20 passes)."""
import json
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("ANSIBLE_DEPRECATION_WARNINGS", "false")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data"))

from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.template import Templar, trust_as_template  # noqa: E402
from core_corpus import CASES, VARS, trust  # noqa: E402


def one_pass(templar):
    for kind, src in CASES:
        try:
            if kind == "c":
                templar.evaluate_conditional(trust_as_template(src))
            else:
                templar.template(trust_as_template(src))
        except Exception:  # noqa: BLE001 - error cases are part of the corpus
            pass


def main():
    templar = Templar(loader=DataLoader(), variables=trust(VARS))
    one_pass(templar)  # warm up
    best = None
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(20):
            one_pass(templar)
        mean = (time.perf_counter() - start) / 20
        best = mean if best is None else min(best, mean)
    print(f"ansible-core Templar, core corpus ({len(CASES)} cases): {best * 1000:.2f} ms per pass")


if __name__ == "__main__":
    main()
