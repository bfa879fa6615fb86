# Real Ansible's sysctl module needs the sysctl binary (procps, not in the minbase image);
# the agent does not. Install it on the Ansible host only.
if [ -d /opt/ans ] && ! command -v sysctl >/dev/null; then
    { apt-get install -y -qq procps || { apt-get update -qq && apt-get install -y -qq procps; }; } >/dev/null 2>&1
fi
# A file with a key to be removed and one to be kept (normalised to k=v).
printf '# agent test\nnet.ipv4.tcp_fin_timeout = 30\nnet.ipv4.tcp_keepalive_time = 600\n' > /etc/sysctl.d/60-agent-test.conf
