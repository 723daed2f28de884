#!/usr/bin/env bash
# Packs every publishable package with `npm pack` (each builds itself on `prepack`), installs the tarballs
# into a scratch project outside the repository (no workspace, no source condition), imports each one, and
# runs a small program on Node 24 from the tarballs alone: an HTTP server and a client calling it, and an
# embedded broker delivering a published event to a consumer. What a user would get.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
names=()
for dir in packages/*/; do
  pkg="$dir/package.json"
  [ -f "$pkg" ] || continue
  if node -e 'process.exit(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).private?0:1)' "$pkg"; then continue; fi
  (cd "$dir" && npm pack --silent --pack-destination "$scratch" >/dev/null)
  names+=("$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).name' "$pkg")")
done
cd "$scratch"
echo '{"name":"scratch","private":true,"type":"module"}' > package.json
npm install --no-audit --no-fund --loglevel=error ./*.tgz >/dev/null
for name in "${names[@]}"; do
  node --input-type=module -e "const m = await import('$name'); if (Object.keys(m).length === 0) { console.error('$name exports nothing'); process.exit(1); }"
  if ls "node_modules/$name/dist" | grep -q '\.test\.'; then echo "$name ships test files" >&2; exit 1; fi
  echo "pack-check: $name installs and imports ($(ls node_modules/$name/dist/*.js | wc -l) modules)"
done

# The program runs on Node 24, the version meshkit develops on: the one on PATH, or node@24 from npm.
node24=node
if [ "$(node -p 'process.versions.node.split(".")[0]')" != "24" ]; then
  mkdir -p "$root/.tools/node24"
  [ -f "$root/.tools/node24/package.json" ] || echo '{"private":true}' > "$root/.tools/node24/package.json"
  (cd "$root/.tools/node24" && npm install --no-save --no-audit --no-fund --loglevel=error node@24 >/dev/null)
  node24="$root/.tools/node24/node_modules/.bin/node"
fi
cat > smoke.mjs <<'JS'
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpClient, httpServer } from '@meshkit/http';
import { consume, publisher } from '@meshkit/messaging';
import { sqliteBroker } from '@meshkit/messaging-sqlite';

const server = httpServer({
  service: 'users',
  shutdown: { signals: false, exit: false },
  handler: (req) => ({ body: { path: req.path } }),
});
const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
const client = httpClient({ service: 'users', endpoints: [`127.0.0.1:${port}`] });
const answer = await client.get('/users/42');

// A folder that does not exist yet: the broker creates it.
const broker = sqliteBroker({ path: join(mkdtempSync(join(tmpdir(), 'meshkit-smoke-')), 'var', 'events.db') });
let received;
const delivered = new Promise((resolve) => {
  received = resolve;
});
const consumer = await consume(broker, {
  group: 'smoke',
  topics: ['user.created'],
  handler: async (message) => received(message.data),
});
await publisher(broker, { source: '/smoke' }).publish('user.created', { id: '42' });
const data = await delivered;
console.log(JSON.stringify({ answer, data }));
await consumer.stop();
await broker.close();
await client.close();
await server.shutdown();
JS
expected='{"answer":{"path":"/users/42"},"data":{"id":"42"}}'
got="$(timeout 60 "$node24" smoke.mjs)"
if [ "$got" != "$expected" ]; then
  echo "pack-check: the program on the tarballs printed '$got', expected '$expected'" >&2
  exit 1
fi
echo "pack-check: client + server + broker program runs from the tarballs on Node $("$node24" --version) in $scratch"

