set -e
! getent passwd agent-usr-gone
! grep -q '^agent-usr-gone:' /etc/shadow
test ! -e /home/agent-usr-gone
! getent passwd agent-usr-never
