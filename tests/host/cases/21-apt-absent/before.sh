set -e
# A small package the case removes (and purges).
DEBIAN_FRONTEND=noninteractive apt-get install -y -q hello >/dev/null
