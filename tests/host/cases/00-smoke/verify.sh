set -e
test -d /etc/agent-smoke
test "$(stat -c %a /etc/agent-smoke)" = 755
grep -qx 'Welcome to the agent smoke test host.' /etc/agent-smoke/motd
test "$(stat -c %a /etc/agent-smoke/motd)" = 644
grep -qx 'port = 8080' /etc/agent-smoke/app.conf
grep -qx 'workers = 4' /etc/agent-smoke/workers.conf
test "$(stat -c '%a %U %G' /etc/agent-smoke/app.conf)" = '640 root root'
