# A file with a key to be removed and one to be kept (normalised to k=v).
printf '# agent test\nnet.ipv4.tcp_fin_timeout = 30\nnet.ipv4.tcp_keepalive_time = 600\n' > /etc/sysctl.d/60-agent-test.conf
