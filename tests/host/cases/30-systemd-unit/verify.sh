set -e
test "$(systemctl is-active agent-demo)" = active
test "$(systemctl is-enabled agent-demo)" = enabled
test -L /etc/systemd/system/multi-user.target.wants/agent-demo.service
systemctl show -p Environment agent-demo | grep -q 'GREETING=hello from the agent'
systemctl show -p Description agent-demo | grep -qx 'Description=Agent demo service'
