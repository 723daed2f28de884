# Source this file: `source scripts/use-node.sh`.
# meshkit's Node floor is the root package.json's `engines.node` (the highest floor of any package and
# dependency; it develops and tests on Node 24 LTS). When the Node on PATH is older, this installs the npm
# package `node@24` (which carries the real binary) into `.tools/` and puts its `bin` first on PATH for
# the current shell.
_meshkit_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
MESHKIT_NODE_FLOOR="$(sed -n 's/.*"node": *">=\([0-9.]*\)".*/\1/p' "$_meshkit_root/package.json" | head -n 1)"
export MESHKIT_NODE_FLOOR
_meshkit_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e '
    const need = process.argv[1].split(".").map(Number);
    const have = process.versions.node.split(".").map(Number);
    for (let i = 0; i < 3; i++) if ((have[i] ?? 0) !== (need[i] ?? 0)) process.exit(have[i] > (need[i] ?? 0) ? 0 : 1);
  ' "$MESHKIT_NODE_FLOOR"
}
if [ -x "$_meshkit_root/.tools/node_modules/.bin/node" ]; then
  export PATH="$_meshkit_root/.tools/node_modules/.bin:$PATH"
fi
if ! _meshkit_node_ok; then
  echo "meshkit: Node $(node --version 2>/dev/null || echo none) is older than the required $MESHKIT_NODE_FLOOR; installing node@24 into .tools/" >&2
  mkdir -p "$_meshkit_root/.tools"
  [ -f "$_meshkit_root/.tools/package.json" ] || echo '{"private":true}' > "$_meshkit_root/.tools/package.json"
  (cd "$_meshkit_root/.tools" && npm install --no-save --no-audit --no-fund --loglevel=error node@24) || return 1
  export PATH="$_meshkit_root/.tools/node_modules/.bin:$PATH"
  hash -r
fi
echo "meshkit: using Node $(node --version) (needs >= $MESHKIT_NODE_FLOOR)" >&2
unset _meshkit_root
