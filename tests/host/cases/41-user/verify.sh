set -e
getent passwd agent-usr-deploy
test "$(getent passwd agent-usr-deploy)" = 'agent-usr-deploy:x:2751:2751:Deploy User:/srv/agent-usr-deploy:/bin/bash'
id -nG agent-usr-deploy | tr ' ' '\n' | sort | tr '\n' ' ' | grep -qx 'adm agent-usr-deploy agent-usr-team '
test -d /srv/agent-usr-deploy
test "$(stat -c '%U %G' /srv/agent-usr-deploy)" = 'agent-usr-deploy agent-usr-deploy'
test -f /srv/agent-usr-deploy/.bashrc
grep -q '^agent-usr-deploy:\$6\$agentsalt\$JQgw/N2L.cR0XuPV4pj3kHDScWVx/562ybDNV5KPdwcDcAMYI9y1nHcC8xz3Y6F3noQKul8KRlxY.c6XXrgq30:[0-9]*:0:99999:7::21915:$' /etc/shadow
svc=$(getent passwd agent-usr-svc)
test "$(echo "$svc" | cut -d: -f3)" -lt 1000
test "$(echo "$svc" | cut -d: -f7)" = /usr/sbin/nologin
test ! -e /home/agent-usr-svc
