set -e
! systemctl is-active -q agent-mask-demo
test "$(systemctl is-enabled agent-mask-demo)" = masked
test "$(readlink /etc/systemd/system/agent-mask-demo.service)" = /dev/null
test ! -e /etc/systemd/system/multi-user.target.wants/agent-mask-demo.service
