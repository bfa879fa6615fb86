set -e
# python3-venv for the virtualenv; the harness copies the build machine's CA bundle in.
dpkg -s python3-venv >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null; }
rm -rf /srv/agent-pip68
mkdir -p /srv/agent-pip68
printf 'idna==3.7\n' > /srv/agent-pip68/requirements.txt
