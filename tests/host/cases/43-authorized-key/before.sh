set -e
useradd -m -s /bin/bash agent-ak-user
mkdir -p /home/agent-ak-user/.ssh
printf '%s\n' 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDoldkey old@laptop' 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeepMe keep@desk' > /home/agent-ak-user/.ssh/authorized_keys
chmod 0755 /home/agent-ak-user/.ssh
