# Sourced by the scripts: where things live and the environment every command here runs with.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PULUMI_VERSION="${PULUMI_VERSION:-3.274.1}"
export PULUMI_CLI_CACHE="${PULUMI_CLI_CACHE:-$HOME/.cache/pulumi-compute-instance/pulumi-cli}"
# No update checks, no plugin downloads: everything this project needs is local.
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# The quickstart's state lives in the checkout; no account, no cloud.
export COMPUTE_INSTANCE_STATE_DIR="${COMPUTE_INSTANCE_STATE_DIR:-$ROOT/.pulumi-local/state}"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$COMPUTE_INSTANCE_STATE_DIR}"
# The documented demo passphrase that encrypts the quickstart's secrets; set your own for real stacks.
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-quickstart}"
# A Pulumi CLI built by scripts/lib/pulumi-cli.sh, when the machine has none of its own.
if [ -d "$PULUMI_CLI_CACHE/current" ]; then
  case ":$PATH:" in *":$PULUMI_CLI_CACHE/current:"*) ;; *) export PATH="$PULUMI_CLI_CACHE/current:$PATH" ;; esac
fi
step() { printf '\n==> %s\n' "$*" >&2; }
# Installs Debian packages, refreshing the package lists only when the first attempt fails.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "$@" >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq "$@" >/dev/null; }
}
