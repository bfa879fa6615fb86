set -e
rpm -q agenttest-1.1-1.noarch
rpm -q agenttool-1.0-1.noarch
