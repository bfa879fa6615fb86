set -e
bc=$(dumpe2fs -h /var/tmp/agent-resize.img 2>/dev/null | sed -n 's/^Block count: *//p')
bs=$(dumpe2fs -h /var/tmp/agent-resize.img 2>/dev/null | sed -n 's/^Block size: *//p')
test $((bc * bs)) -eq $((128 * 1024 * 1024))
