set -e
test -s /var/lib/agent-creates/initialised
test ! -e /var/lib/agent-creates/pending
grep -qx done /var/lib/agent-creates/ran
