set -e
grep -qx 'volume vol-0123456789abcdef0 attached' /srv/agent-waitfor-ready
test ! -e /srv/agent-waitfor-never
