# Test-only callback: records the callback events ansible-playbook emits, in the shape of
# agent_report::Event, so the Rust golden tests can replay them without Python.
# Enabled by tests/record.py; output file comes from $AGENT_REPORT_EVENTS.
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase
from ansible.utils.display import Display
from ansible.module_utils._internal import _messages
from ansible._internal import _display_utils

_events = []


def _wrap_display():
    orig_warning = Display._warning
    orig_deprecated = Display._deprecated

    def _warning(self, warning, *a, **kw):
        msg = _display_utils.format_message(warning, False)
        _events.append({'ev': 'Warning', 'message': msg})
        return orig_warning(self, warning, *a, **kw)

    def _deprecated(self, warning, *a, **kw):
        msg = _display_utils.format_message(warning, False)
        _events.append({'ev': 'Deprecation', 'message': msg})
        return orig_deprecated(self, warning, *a, **kw)

    # _proxy-wrapped functions; replace on the class
    Display._warning = _warning
    Display._deprecated = _deprecated


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'recorder'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _wrap_display()

    def _add(self, ev):
        _events.append(ev)

    def v2_playbook_on_start(self, playbook):
        self._add({'ev': 'PlaybookStart', 'path': playbook._file_name, 'plays': len(playbook.get_plays())})

    def v2_playbook_on_play_start(self, play):
        self._add({'ev': 'PlayStart', 'name': play.get_name().strip(), 'hosts': ','.join(play.hosts) if isinstance(play.hosts, list) else str(play.hosts),
                   'check_mode': bool(play.check_mode), 'path': play.get_path() or ''})

    def _task(self, task, handler):
        self._add({'ev': 'TaskStart', 'name': task.get_name().strip(), 'path': task.get_path() or '', 'is_handler': handler,
                   'action': task.action, 'is_loop': bool(task.loop)})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task(task, False)

    def v2_playbook_on_handler_task_start(self, task):
        self._task(task, True)

    def v2_playbook_on_no_hosts_matched(self):
        self._add({'ev': 'NoHostsMatched'})

    def _result(self, kind, result, status, ignore_errors=False):
        res = result.result
        if status == 'ok' and res.get('changed', False):
            status = 'changed'
        delegate = result.task.delegate_to if result.task.delegate_to else None
        error = None
        if res.get('exception') and result.exception:
            error = _display_utils.format_message(result.exception, False)
        # The stdout callback (called first) already displayed this result's warnings and
        # deprecations, which our Display hook recorded as events. The engine reports
        # them inside the result instead: move the formatted messages into the result.
        for key, attr, ev in (('deprecations', 'deprecations', 'Deprecation'), ('warnings', 'warnings', 'Warning')):
            if res.get(key) and getattr(result, attr, None):
                formatted = [_display_utils.format_message(w, False) for w in getattr(result, attr)]
                res[key] = formatted
                while _events and _events[-1].get('ev') == ev and _events[-1].get('message') in formatted:
                    _events.pop()
        self._add({'ev': kind, 'host': result.host.get_name(), 'status': status, 'result': res,
                   'ignore_errors': bool(ignore_errors), 'delegate_to': delegate, 'error': error})

    def v2_runner_on_ok(self, result):
        self._result('TaskResult', result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result('TaskResult', result, 'failed', ignore_errors)

    def v2_runner_on_skipped(self, result):
        self._result('TaskResult', result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._result('TaskResult', result, 'unreachable', bool(result.task.ignore_unreachable))

    def v2_runner_item_on_ok(self, result):
        self._result('ItemResult', result, 'ok')

    def v2_runner_item_on_failed(self, result):
        self._result('ItemResult', result, 'failed')

    def v2_runner_item_on_skipped(self, result):
        self._result('ItemResult', result, 'skipped')

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed.keys())
        recap = []
        for h in hosts:
            recap.append([h, stats.summarize(h)])
        if stats.custom:
            self._add({'ev': 'CustomStats', 'stats': {str(k): v for k, v in stats.custom.items()}})
        self._add({'ev': 'Recap', 'stats': recap})
        with open(os.environ['AGENT_REPORT_EVENTS'], 'w') as f:
            json.dump(_events, f, indent=1, ensure_ascii=False, default=str)
            f.write('\n')
