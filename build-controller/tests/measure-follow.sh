#!/usr/bin/env bash
# measure-follow.sh FOLLOWER [CONTROLLER]  -- how many API requests one `kubectl build logs -f`
# makes while it follows a two-minute Build, counted by the API server's audit log.
#
# FOLLOWER is a kubectl-build binary (say, one built before and one after a change); CONTROLLER
# the build-controller binary that reconciles (default: target/debug/build-controller). A
# throw-away control plane (start.sh, with an audit policy that logs only the follower's
# ServiceAccount) runs the controller; this script plays the kubelet: a Node whose kubelet
# port is a small HTTPS server serving the containers' logs (a follow stays open until its
# container ends, as a kubelet's does), and the pod's status written on this timeline:
#
#   0-10 s   pulling images (every init container waiting, PodInitializing)
#   10-11 s  credential-initializer runs          (a helper: not shown without --all)
#   11-20 s  git-source-0 runs                    (a helper)
#   20-80 s  step `build` runs, its log followed
#   80-118 s step `push` runs, its log followed
#   120 s    the pod Succeeded; the controller writes the Build's success; the follow ends.
#
# Prints the follower's requests by verb and resource, the total, and the requests per minute.
# Needs KUBEBUILDER_ASSETS (etcd, kube-apiserver; kubectl there or on PATH), python3, openssl.
set -euo pipefail
FOLLOWER="$(realpath "${1:?usage: measure-follow.sh FOLLOWER [CONTROLLER]}")"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ENVTEST="$HERE/../../xtask/cluster/envtest"
ROOT="$(cd "$HERE/../.." && pwd)"
CONTROLLER="$(realpath "${2:-$ROOT/target/debug/build-controller}")"
KUBECTL="${KUBEBUILDER_ASSETS:?}/kubectl"
[[ -x "$KUBECTL" ]] || KUBECTL="$(command -v kubectl)"
DIR="$(mktemp -d /tmp/measure-follow.XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  "$ENVTEST/stop.sh" "$DIR/cp" --clean >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT

cat > "$DIR/policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  users: ["system:serviceaccount:default:follower"]
- level: None
EOF
ENVTEST_EXTRA_APISERVER_ARGS="--audit-policy-file=$DIR/policy.yaml --audit-log-path=$DIR/audit.log" \
  "$ENVTEST/start.sh" "$DIR/cp" >"$DIR/start.out" 2>"$DIR/start.log"
export KUBECONFIG="$DIR/cp/kubeconfig"
k() { "$KUBECTL" "$@"; }

k apply -f "$ROOT/config/300-build.yaml" -f "$ROOT/config/300-buildtemplate.yaml" \
  -f "$ROOT/config/300-clusterbuildtemplate.yaml" >/dev/null
for crd in builds buildtemplates clusterbuildtemplates; do
  for _ in $(seq 1 100); do
    k wait --for condition=Established "crd/$crd.build.knative.dev" >/dev/null 2>&1 && break
    sleep 0.2
  done
done
"$CONTROLLER" run --metrics-address 127.0.0.1:0 --creds-init-image example.com/creds-init \
  --git-init-image example.com/git-init --nop-image example.com/nop >"$DIR/controller.log" 2>&1 &
PIDS+=($!)

# The kubelet's log endpoint: a follow stays open until $DIR/ended/CONTAINER exists.
mkdir -p "$DIR/ended"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat > "$DIR/kubelet.py" <<'EOF'
import http.server, os, ssl, sys, time
ended = sys.argv[2]
class Logs(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        container = self.path.split("?")[0].rsplit("/", 1)[-1]
        self.send_response(200); self.send_header("Content-Type", "text/plain"); self.end_headers()
        self.wfile.write(f"{container} is running\n".encode()); self.wfile.flush()
        while "follow=true" in self.path and not os.path.exists(os.path.join(ended, container)):
            time.sleep(0.2)
        if os.path.exists(os.path.join(ended, container)):
            self.wfile.write(f"{container} is done\n".encode())
    def log_message(self, *args): pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Logs)
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(sys.argv[3] + "/apiserver.crt", sys.argv[3] + "/apiserver.key")
server.socket = tls.wrap_socket(server.socket, server_side=True)
server.serve_forever()
EOF
python3 "$DIR/kubelet.py" "$PORT" "$DIR/ended" "$DIR/cp/pki" &
PIDS+=($!)
k create -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata: {name: measure-node}
EOF
k patch node measure-node --subresource status --type merge \
  -p "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"}],\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":$PORT}}}}" >/dev/null

# The follower: a ServiceAccount of its own, so that the audit log holds its requests only.
k create serviceaccount follower >/dev/null
k create clusterrolebinding follower --clusterrole cluster-admin --serviceaccount default:follower >/dev/null
TOKEN="$(k create token follower --duration 1h)"
SERVER="$(k config view --raw -o jsonpath='{.clusters[0].cluster.server}')"
k config view --raw --minify --flatten >"$DIR/follower.kubeconfig"
KUBECONFIG="$DIR/follower.kubeconfig" k config set-credentials follower --token "$TOKEN" >/dev/null
KUBECONFIG="$DIR/follower.kubeconfig" k config set-context --current --user follower >/dev/null

k create -f - >/dev/null <<'EOF'
apiVersion: build.knative.dev/v1alpha1
kind: Build
metadata: {name: two-minutes, namespace: default}
spec:
  source: {git: {url: "https://github.com/garethr/kubeval.git", revision: master}}
  steps:
  - {name: build, image: busybox, args: ["sleep", "60"]}
  - {name: push, image: busybox, args: ["sleep", "38"]}
EOF
START=$(date +%s.%N)
"$FOLLOWER" logs -f two-minutes --kubeconfig "$DIR/follower.kubeconfig" >"$DIR/follow.out" 2>&1 &
FOLLOW=$!

# The kubelet's statuses. Init containers: credential-initializer, git-source-0, build, push.
POD=""
for _ in $(seq 1 600); do
  POD="$(k get pods -l build.knative.dev/buildName=two-minutes -o name 2>/dev/null | head -1)"
  [[ -n "$POD" ]] && break; sleep 0.1
done
[[ -n "$POD" ]] || { echo "the controller made no pod in 60 s:"; tail "$DIR/controller.log"; exit 1; }
POD="${POD#pod/}"
k create -f - >/dev/null <<EOF
apiVersion: v1
kind: Binding
metadata: {name: $POD, namespace: default}
target: {apiVersion: v1, kind: Node, name: measure-node}
EOF
stamp() { date -u +%Y-%m-%dT%H:%M:%SZ; }
state() { # state INDEX RUNNING_INDEX: the JSON state of init container INDEX
  if (( $1 < $2 )); then echo "{\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\",\"startedAt\":\"$(stamp)\",\"finishedAt\":\"$(stamp)\"}}"
  elif (( $1 == $2 )); then echo "{\"running\":{\"startedAt\":\"$(stamp)\"}}"
  else echo '{"waiting":{"reason":"PodInitializing"}}'; fi
}
kubelet() { # kubelet RUNNING_INDEX PHASE: the pod's status with init container RUNNING_INDEX running
  local names=(build-step-credential-initializer build-step-git-source-0 build-step-build build-step-push)
  local statuses="" i
  for i in 0 1 2 3; do
    statuses+="{\"name\":\"${names[$i]}\",\"image\":\"x\",\"imageID\":\"\",\"ready\":false,\"restartCount\":0,\"state\":$(state $i "$1")},"
  done
  k patch pod "$POD" --subresource status --type merge \
    -p "{\"status\":{\"phase\":\"$2\",\"startTime\":\"$(stamp)\",\"initContainerStatuses\":[${statuses%,}]}}" >/dev/null
}
at() { local now; now=$(date +%s.%N); sleep "$(echo "$START + $1 - $now" | bc)"; }
kubelet -1 Pending
at 10; kubelet 0 Pending
at 11; touch "$DIR/ended/build-step-credential-initializer"; kubelet 1 Pending
at 20; touch "$DIR/ended/build-step-git-source-0"; kubelet 2 Pending
at 80; touch "$DIR/ended/build-step-build"; kubelet 3 Pending
at 118; touch "$DIR/ended/build-step-push"; kubelet 4 Pending
at 120; kubelet 4 Succeeded
wait "$FOLLOW" && EXIT=0 || EXIT=$?
END=$(date +%s.%N)

echo "follower: $FOLLOWER (exit $EXIT, $(echo "$END - $START" | bc | cut -c1-5) s)"
sed 's/^/  | /' "$DIR/follow.out"
python3 - "$DIR/audit.log" "$START" "$END" <<'EOF'
import collections, json, sys
requests = {}
for line in open(sys.argv[1]):
    event = json.loads(line)
    o = event.get("objectRef", {})
    what = event["verb"] + " " + o.get("resource", event.get("requestURI", "")) + ("/" + o["subresource"] if o.get("subresource") else "")
    requests[event["auditID"]] = what
counts = collections.Counter(requests.values())
for what, n in sorted(counts.items()):
    print(f"  {n:4d}  {what}")
minutes = (float(sys.argv[3]) - float(sys.argv[2])) / 60
total = sum(counts.values())
print(f"  {total:4d}  requests in all, {total / minutes:.1f} a minute")
EOF
