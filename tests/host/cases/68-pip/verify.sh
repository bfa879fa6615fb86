set -e
V=/srv/agent-pip68/venv
test "$($V/bin/python -c 'import six; print(six.__version__)')" = 1.16.0
test "$($V/bin/python -c 'import idna; print(idna.__version__)')" = 3.7
