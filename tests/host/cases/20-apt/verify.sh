set -e
dpkg-query -W -f='${Status}\n' tree | grep -qx 'install ok installed'
dpkg-query -W -f='${Status}\n' jq | grep -qx 'install ok installed'
# apt-get marked what was asked for as manually installed.
apt-mark showmanual | grep -qx tree
apt-mark showmanual | grep -qx jq
