set -e
cat > /tmp/agent-cron-expected <<'TAB'
MAILTO="ops@example.com"
SHELL=/bin/sh
PATH="/usr/bin:/bin"
#Ansible: nightly backup
30 2 * * * /usr/local/bin/backup.sh
#Ansible: weekly report
#@weekly /usr/local/bin/report.sh
TAB
crontab -l -u agent-cron-user | grep -v '^# DO NOT EDIT\|^# (' > /tmp/agent-cron-actual
cmp /tmp/agent-cron-actual /tmp/agent-cron-expected
spool=/var/spool/cron/crontabs/agent-cron-user
test "$(stat -c '%a %U %G' $spool)" = '600 agent-cron-user crontab'
cat > /tmp/agent-cron-file-expected <<'TAB'
SHELL="/bin/sh"
#Ansible: cleanup
@daily root find /tmp -mtime +7 -delete
TAB
cmp /etc/cron.d/agent-cleanup /tmp/agent-cron-file-expected
test "$(stat -c '%a %U' /etc/cron.d/agent-cleanup)" = '644 root'
