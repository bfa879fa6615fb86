set -e
mkdir -p /srv/agent-geturl/src /srv/agent-geturl/dl
printf 'payload for get_url\n' > /srv/agent-geturl/src/payload.txt
cd /srv/agent-geturl/src && sha256sum payload.txt > SHA256SUMS
