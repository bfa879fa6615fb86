set -e
test "$(readlink -f /etc/localtime)" = /usr/share/zoneinfo/Pacific/Chatham
