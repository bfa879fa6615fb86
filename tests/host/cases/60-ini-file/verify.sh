set -e
printf '; managed by hand\n[main]\nname = new\ndebug = no\n\n' | cmp - /etc/agent-ini/app.ini
printf '\n[server]\nlisten = 80\nlisten = 443\n' | cmp - /etc/agent-ini/conf.d/other.ini
test "$(stat -c %a /etc/agent-ini/conf.d/other.ini)" = 640
