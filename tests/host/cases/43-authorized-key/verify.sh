set -e
f=/home/agent-ak-user/.ssh/authorized_keys
cat > /tmp/agent-ak-expected <<'KEYS'
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeepMe keep@desk
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlice alice@work
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBob bob@work
no-pty,from="10.0.0.0/8" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICi ci@runner
KEYS
cmp "$f" /tmp/agent-ak-expected
test "$(stat -c '%a %U %G' "$f")" = '600 agent-ak-user agent-ak-user'
test "$(stat -c '%a %U %G' /home/agent-ak-user/.ssh)" = '700 agent-ak-user agent-ak-user'
test "$(cat /etc/agent-ak-keys/agent-ak-user)" = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlice alice@work'
test "$(stat -c '%a %U' /etc/agent-ak-keys/agent-ak-user)" = '600 agent-ak-user'
