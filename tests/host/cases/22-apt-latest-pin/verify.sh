set -e
dpkg-query -W -f='${Status}\n' sl | grep -qx 'install ok installed'
test "$(dpkg-query -W -f='${Version}' sl)" = "$(apt-cache policy sl | sed -n 's/^  Candidate: //p')"
dpkg-query -W -f='${Version}' figlet | grep -q '^2\.2\.5'
