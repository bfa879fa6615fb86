set -e
f=/etc/sysctl.d/60-agent-test.conf
grep -qx 'net.core.somaxconn=1024' $f
grep -qx 'net.ipv4.tcp_syncookies=1' $f
grep -qx 'net.ipv4.tcp_keepalive_time=600' $f
grep -qx '# agent test' $f
! grep -q tcp_fin_timeout $f
