set -e
# pip uses its own CA list (certifi), not the system's. Trust what this host was given at
# boot (tests/testhost/testhost copies the build machine's bundle, which may hold a proxy's CA,
# to /etc/ssl/build-ca.crt, where apt rewriting ca-certificates.crt does not touch it).
if [ -f /etc/ssl/build-ca.crt ]; then
    printf '[global]\ncert = /etc/ssl/build-ca.crt\n' > /etc/pip.conf
fi
# python3-venv for the virtualenv; Ansible's pip module also needs python3-packaging on the
# host (the agent does not).
dpkg -s python3-venv python3-packaging >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv python3-packaging >/dev/null; }
rm -rf /srv/agent-pip68
mkdir -p /srv/agent-pip68
printf 'idna==3.7\n' > /srv/agent-pip68/requirements.txt
