set -e
# pip uses its own CA list (certifi), not the system's. Trust what this host was given at
# boot (the build machine's bundle, which may hold a proxy's CA): keep a copy before apt
# installs ca-certificates, which rewrites the bundle.
[ -f /etc/pip-ca.crt ] || cp /etc/ssl/certs/ca-certificates.crt /etc/pip-ca.crt
printf '[global]\ncert = /etc/pip-ca.crt\n' > /etc/pip.conf
# python3-venv for the virtualenv; Ansible's pip module also needs python3-packaging on the
# host (the agent does not).
dpkg -s python3-venv python3-packaging >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv python3-packaging >/dev/null; }
rm -rf /srv/agent-pip68
mkdir -p /srv/agent-pip68
printf 'idna==3.7\n' > /srv/agent-pip68/requirements.txt
