set -e
mkdir -p /etc/security/limits.d
printf '# agent test\n@agentpam   hard   nproc   50\n' > /etc/security/limits.d/60-agent.conf
