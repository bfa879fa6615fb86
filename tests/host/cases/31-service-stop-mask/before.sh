set -e
mkdir -p /usr/local/lib/systemd/system
cat > /usr/local/lib/systemd/system/agent-mask-demo.service <<'UNIT'
[Unit]
Description=Agent mask demo

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now agent-mask-demo.service
