set -e
! dpkg-query -W -f='${Status}\n' hello 2>/dev/null | grep -q 'install ok installed'
# Purged: dpkg no longer knows it at all (no config-files state).
! dpkg-query -W -f='${Status}\n' hello 2>/dev/null | grep -q config-files
