set -e
! findmnt /srv/agent-gone >/dev/null
! grep -q ' /srv/agent-gone ' /etc/fstab
test ! -e /srv/agent-gone
