set -e
grep -qx 'deb \[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg\] http://deb.debian.org/debian bookworm-backports contrib' /etc/apt/sources.list.d/agent-backports-contrib.list
test "$(stat -c %a /etc/apt/sources.list.d/agent-backports-contrib.list)" = 644
# apt-get update ran with the new source.
ls /var/lib/apt/lists/ | grep -q 'bookworm-backports_contrib_binary-amd64_Packages'
f=/etc/apt/sources.list.d/agent-example.sources
grep -qx 'Enabled: no' $f
grep -qx 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' $f
grep -qx 'X-Repolib-Name: agent example' $f
grep -qx 'URIs: http://deb.debian.org/debian' $f
