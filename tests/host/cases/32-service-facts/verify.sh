set -e
grep -qx 'dbus=running/static' /etc/agent-service-facts.txt
grep -qx 'journald=running' /etc/agent-service-facts.txt
test -d /etc/agent-service-facts.d
