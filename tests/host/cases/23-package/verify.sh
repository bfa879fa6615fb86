set -e
dpkg-query -W -f='${Status}\n' bc | grep -qx 'install ok installed'
dpkg-query -W -f='${Status}\n' dc | grep -qx 'install ok installed'
