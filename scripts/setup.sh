#!/usr/bin/env bash
# Installs what MinoGAN needs on a fresh Debian/Ubuntu machine and starts the swarm on its
# embedded defaults: SQLite in ./data and a managed nats-server. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need_apt=()
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v nats-server >/dev/null 2>&1 || need_apt+=(nats-server)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++ make python3)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing from Debian packages: ${need_apt[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "MinoGAN needs Node.js 20 or newer; this machine has $(node --version)" >&2
  exit 1
fi

npm ci --no-audit --no-fund
npm run build
npm start -- --detach
echo
echo "The swarm runs under pm2 (npx pm2 ls, npx pm2 logs <agent>); 'npm stop' stops it."
