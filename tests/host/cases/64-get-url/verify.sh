set -e
cmp /srv/agent-geturl/src/payload.txt /srv/agent-geturl/dl/payload.txt
cmp /srv/agent-geturl/src/payload.txt /srv/agent-geturl/copy.txt
test "$(stat -c %a /srv/agent-geturl/copy.txt)" = 600
