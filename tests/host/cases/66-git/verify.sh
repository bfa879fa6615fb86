set -e
test "$(git -C /srv/agent-git66/main rev-parse HEAD)" = "$(git -C /srv/agent-git66.git rev-parse main)"
test "$(git -C /srv/agent-git66/v1 rev-parse HEAD)" = "$(git -C /srv/agent-git66.git rev-parse 'v1^{commit}')"
printf 'hello\n' | cmp - /srv/agent-git66/v1/README
