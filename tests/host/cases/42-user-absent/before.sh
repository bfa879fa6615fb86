set -e
useradd -m -s /bin/sh agent-usr-gone
test -d /home/agent-usr-gone
