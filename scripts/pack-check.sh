#!/usr/bin/env bash
# Builds the workspace, packs every publishable package with `npm pack`, installs the tarballs into a
# scratch project (no workspace, no source condition) and imports each one: what a user would get.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
npx tsc -b
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
