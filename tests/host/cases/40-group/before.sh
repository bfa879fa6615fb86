set -e
groupadd agent-grp-old
groupadd -g 2741 agent-grp-move
