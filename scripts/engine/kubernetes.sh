# Build (or reuse) pulumi-resource-kubernetes from the Go module proxy. Sourced by
# scripts/pulumi-engine, whose say/step/fail helpers and $bin/$cache it uses; versions come from
# scripts/engine/versions.
#
# The provider's module (github.com/pulumi/pulumi-kubernetes/provider/v4) is untagged: the proxy
# serves it only at the pseudo-version of the v4.25.0 release commit. Upstream builds it inside its
# repository, so it cannot be `go install`ed as is: its go.mod replaces sdk/v4 with the
# repository's ../sdk, and the binary embeds schema-embed.json and terraform-mapping-embed.json,
# which `go generate` writes (the versioned schema) and the module zip lacks. So: copy the module
# out writable, require sdk/v4 at the same release instead of the local folder, run the module's
# own generator, and build with the version stamped in, against upstream's go.sum.

kubernetes_module=github.com/pulumi/pulumi-kubernetes/provider/v4
kubernetes_stamp="pulumi-kubernetes=v$KUBERNETES_PROVIDER_VERSION module=$KUBERNETES_PROVIDER_MODULE_VERSION"

kubernetes_built() {
  [ -x "$bin/pulumi-resource-kubernetes" ] &&
    [ "$(cat "$bin/.built-kubernetes" 2>/dev/null)" = "$kubernetes_stamp" ]
}

# Each step is an && chain: pulumi-engine runs this in an `if`, where `set -e` does not apply.
kubernetes_prepare() {
  local src=$1 dir
  dir=$(go mod download -json "$kubernetes_module@$KUBERNETES_PROVIDER_MODULE_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') &&
    [ -d "$dir/cmd/pulumi-resource-kubernetes" ] &&
    rm -rf "$src" && cp -r "$dir" "$src" && chmod -R u+w "$src" && cd "$src" &&
    go mod edit -dropreplace=github.com/pulumi/pulumi-kubernetes/sdk/v4 &&
    go get "github.com/pulumi/pulumi-kubernetes/sdk/v4@v$KUBERNETES_PROVIDER_VERSION" &&
    cd cmd/pulumi-resource-kubernetes &&
    VERSION=$KUBERNETES_PROVIDER_VERSION go run ./generate.go &&
    [ -s schema-embed.json ] && [ -s terraform-mapping-embed.json ]
}

kubernetes_build() {
  cd "$1" && go build -o "$bin/" -ldflags "-s -w \
    -X $kubernetes_module/pkg/version.Version=$KUBERNETES_PROVIDER_VERSION" \
    ./cmd/pulumi-resource-kubernetes
}

# Builds pulumi-resource-kubernetes into $bin unless the stamp says this version is there; a
# failed step ends this (sub)shell after showing the end of its log. Run it in a subshell: the
# lock (one build at a time on a machine shared by several clones) is held until that ends.
build_kubernetes_provider() {
  kubernetes_built && return 0
  exec 9>"$cache/build/pulumi-kubernetes.lock" || return 1
  flock -n 9 || { say "waiting for another build of pulumi-resource-kubernetes" && flock 9; } ||
    return 1
  kubernetes_built && return 0
  local src=$cache/build/pulumi-kubernetes-v$KUBERNETES_PROVIDER_VERSION
  local log=$cache/build/pulumi-kubernetes-v$KUBERNETES_PROVIDER_VERSION.log
  : >"$log" &&
    step "fetching $kubernetes_module@$KUBERNETES_PROVIDER_MODULE_VERSION (v$KUBERNETES_PROVIDER_VERSION) and generating its embedded schema" \
      kubernetes_prepare "$src" &&
    step "building pulumi-resource-kubernetes v$KUBERNETES_PROVIDER_VERSION" \
      kubernetes_build "$src" &&
    echo "$kubernetes_stamp" >"$bin/.built-kubernetes"
}
