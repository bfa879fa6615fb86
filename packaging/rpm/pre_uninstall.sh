# $1 = 0: removal (not an upgrade)
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now agent.timer agent-check.timer >/dev/null 2>&1 || :
    systemctl stop agent.service agent-check.service >/dev/null 2>&1 || :
fi
