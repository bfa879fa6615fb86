set -e
test "$(getent group agent-grp-web | cut -d: -f3)" = 2740
gid=$(getent group agent-grp-sys | cut -d: -f3)
test -n "$gid" && test "$gid" -lt 1000
test "$(getent group agent-grp-move | cut -d: -f3)" = 2742
! getent group agent-grp-old
grep -q '^agent-grp-web:' /etc/gshadow
! grep -q '^agent-grp-old:' /etc/gshadow
