set -e
mkdir -p /var/lib/agent-creates
touch /var/lib/agent-creates/pending
