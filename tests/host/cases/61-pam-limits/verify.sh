set -e
printf '# agent test\n@agentpam\thard\tnproc\t200\nagentpam\t-\tnofile\t65536\t#for the app\n' | cmp - /etc/security/limits.d/60-agent.conf
