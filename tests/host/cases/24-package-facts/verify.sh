set -e
grep -qx "dpkg=$(dpkg-query -W -f='${Version}' dpkg)" /etc/agent-package-facts.txt
