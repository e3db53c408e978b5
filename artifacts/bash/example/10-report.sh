#!/bin/bash
# First boot: record what the host looks like after provisioning.
set -eu
{
  echo "first boot: $(date -u +%FT%TZ)"
  hostname
  ip -br addr || true
} >> /var/log/podboot-report.log
