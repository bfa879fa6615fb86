set -e
D=/srv/agent-unarchive67
printf 'hello tar\n' | cmp - $D/tgz/app/README
test "$(stat -c %U:%G $D/tgz/app/README)" = daemon:daemon
test "$(stat -c %U:%G $D/tgz/app)" = daemon:daemon
test "$(stat -c %a $D/tgz/app/conf/app.conf)" = 600
printf '<h1>zip</h1>\n' | cmp - $D/zip/site/index.html
test "$(stat -c %a $D/zip/site/index.html)" = 750
test "$(stat -c %a $D/zip/site)" = 750
