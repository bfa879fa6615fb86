set -e
DEBIAN_FRONTEND=noninteractive apt-get install -y cron >/dev/null
useradd -m -s /bin/sh agent-cron-user
printf 'SHELL=/bin/sh\n' | crontab -u agent-cron-user -
