set -e
test "$(cat /proc/sys/kernel/hostname)" = agent-host62
grep -qx agent-host62 /etc/hostname
