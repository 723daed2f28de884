# Source this file: `source scripts/use-node.sh`.
# meshkit needs Node >= 22.12 (it develops and tests on Node 24 LTS). When the Node on PATH is older,
# this installs the npm package `node@24` (which carries the real binary) into `.tools/` and puts its
# `bin` first on PATH for the current shell.
_meshkit_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
_meshkit_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=12)?0:1)'
}
if [ -x "$_meshkit_root/.tools/node_modules/.bin/node" ]; then
  export PATH="$_meshkit_root/.tools/node_modules/.bin:$PATH"
fi
if ! _meshkit_node_ok; then
  echo "meshkit: Node $(node --version 2>/dev/null || echo none) is too old; installing node@24 into .tools/" >&2
  mkdir -p "$_meshkit_root/.tools"
  [ -f "$_meshkit_root/.tools/package.json" ] || echo '{"private":true}' > "$_meshkit_root/.tools/package.json"
  (cd "$_meshkit_root/.tools" && npm install --no-save --no-audit --no-fund --loglevel=error node@24) || return 1
  export PATH="$_meshkit_root/.tools/node_modules/.bin:$PATH"
  hash -r
fi
echo "meshkit: using Node $(node --version)" >&2
unset _meshkit_root
