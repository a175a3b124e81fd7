# Sourced by scripts/up.sh and scripts/down.sh after `gitops check --plan` (GITOPS_PULUMI*):
# the Pulumi CLI first on PATH, the local file backend, an empty passphrase unless one is set.
# Nothing here needs a cloud account. (`pulumi login --local` is file://~; set PULUMI_BACKEND_URL
# to use another backend.)
export PATH="$GITOPS_PULUMI_BIN_DIR:$PATH"
if [ "$GITOPS_PULUMI_SOURCE" = "built from Go modules" ]; then
  # The built CLI finds its language host and the kubernetes provider beside it; nothing is downloaded.
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
fi
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_NODEJS_TRANSPILE_ONLY=true
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"
pulumi login "${PULUMI_BACKEND_URL:-file://~}" >/dev/null
