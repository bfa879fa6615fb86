set -e
mkdir -p /etc/agent-ini
printf '; managed by hand\n[main]\nname = old\n# debug = yes\n\n[extra]\nkeep = 1\n' > /etc/agent-ini/app.ini
