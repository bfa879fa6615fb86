set -e
# Real Ansible needs unzip/zipinfo for zip archives; the agent reads them itself.
command -v unzip >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q unzip >/dev/null; }
rm -rf /srv/agent-unarchive67
mkdir -p /srv/agent-unarchive67/src/app/conf /srv/agent-unarchive67/tgz /srv/agent-unarchive67/zip
printf 'hello tar\n' > /srv/agent-unarchive67/src/app/README
printf 'k=v\n' > /srv/agent-unarchive67/src/app/conf/app.conf
chmod 0600 /srv/agent-unarchive67/src/app/conf/app.conf
tar -C /srv/agent-unarchive67/src -czf /srv/agent-unarchive67/app.tar.gz app
