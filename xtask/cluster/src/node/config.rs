//! The node's configuration files and command-line flags: pure text from the run's
//! directory and ports, unit-tested.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{BRIDGE, GATEWAY, NODE, POD_SUBNET};

/// kube-controller-manager's controllers: what a Deployment, a Service and a deleted
/// namespace or CRD need, the node's lifecycle, and pod eviction's disruption budgets.
const CONTROLLERS: &str = "garbage-collector-controller,namespace-controller,serviceaccount-controller,clusterrole-aggregation-controller,root-ca-certificate-publisher-controller,node-lifecycle-controller,replicaset-controller,deployment-controller,endpoints-controller,endpointslice-controller,disruption-controller";

/// containerd's configuration: its own root, state and socket under `dir`, cgroupfs, the
/// imported sandbox image, the CNI configuration of this run.
pub(super) fn containerd_config(dir: &Path, pause: &str) -> String {
    let d = dir.display();
    format!(
        r#"version = 2
root = "{d}/containerd/root"
state = "{d}/containerd/state"
[grpc]
  address = "{d}/containerd/containerd.sock"
[ttrpc]
  address = "{d}/containerd/containerd.sock.ttrpc"
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{pause}"
    disable_apparmor = true
    # no CAP_SYS_RESOURCE here: runc cannot set the sandbox's oom_score_adj -998
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "{d}/containerd/runc"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "{d}/cni/net.d"
      max_conf_num = 1
"#
    )
}

/// The CNI network: the bridge [`bridge_up`] made, the pods' gateway, no masquerading (pods
/// reach each other and the run's namespace, nothing beyond).
pub(super) fn cni_conflist(dir: &Path) -> String {
    serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "xtask-e2e",
        "plugins": [{
            "type": "bridge",
            "bridge": BRIDGE,
            "isGateway": true,
            "isDefaultGateway": true,
            "ipMasq": false,
            "hairpinMode": false,
            "ipam": {
                "type": "host-local",
                "dataDir": format!("{}/cni/ipam", dir.display()),
                "ranges": [[{"subnet": POD_SUBNET}]],
            },
        }],
    })
    .to_string()
}

/// The kubelet's configuration file.
pub(super) fn kubelet_config(dir: &Path, port: u16, healthz_port: u16) -> String {
    let d = dir.display();
    format!(
        "apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: {port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {healthz_port}
containerRuntimeEndpoint: unix://{d}/containerd/containerd.sock
imageServiceEndpoint: unix://{d}/containerd/containerd.sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
authentication:
  anonymous: {{enabled: true}}
  webhook: {{enabled: false}}
authorization:
  mode: AlwaysAllow
resolvConf: {d}/kubelet/resolv.conf
podLogsDir: {d}/pod-logs
evictionHard: {{}}
evictionPressureTransitionPeriod: 0s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
imageMinimumGCAge: 87600h
serializeImagePulls: false
registerNode: true
maxPods: 110
"
    )
}

/// kube-apiserver's flags on top of start.sh's: reachable from pods through the `kubernetes`
/// Service (every address of the namespace, the bridge's advertised, the endpoint reconciler
/// on). (The ServiceAccount admission plugin, which start.sh turns off, is back on through
/// `disabled_admission_plugins`, so pods get their projected token as on any cluster.)
pub(super) fn apiserver_args() -> Vec<String> {
    vec![
        // the API server reaches the kubelet (logs, exec) at the node's host name
        "--kubelet-preferred-address-types=Hostname".to_owned(),
        "--bind-address=0.0.0.0".to_owned(),
        format!("--advertise-address={GATEWAY}"),
        "--endpoint-reconciler-type=lease".to_owned(),
    ]
}

/// kube-proxy's configuration: iptables mode in the run's namespace, and no conntrack sysctl
/// written (those are the host's: `maxPerCore` and the timeouts 0 leave them as they are).
pub(super) fn kube_proxy_config(kubeconfig: &Path, healthz: u16, metrics: u16) -> String {
    format!(
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {kubeconfig}
mode: iptables
hostnameOverride: {NODE}
clusterCIDR: {POD_SUBNET}
healthzBindAddress: 127.0.0.1:{healthz}
metricsBindAddress: 127.0.0.1:{metrics}
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  syncPeriod: 10s
  minSyncPeriod: 0s
",
        kubeconfig = kubeconfig.display()
    )
}

/// [`CONTROLLERS`], plus the publisher of `openshift-service-ca.crt` where the
/// kube-controller-manager binary has it: binaries built from OpenShift's fork of Kubernetes
/// (as microshift carries it) also project that ConfigMap into every pod's token volume, and
/// a pod waits for it until that controller has published it in the pod's namespace.
pub(super) fn controllers(kube_controller_manager: &Path) -> String {
    const OPENSHIFT_PUBLISHER: &str = "service-ca-certificate-publisher-controller";
    let help = Command::new(kube_controller_manager)
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if help.contains(OPENSHIFT_PUBLISHER) {
        format!("{CONTROLLERS},{OPENSHIFT_PUBLISHER}")
    } else {
        CONTROLLERS.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_keeps_everything_under_the_run_directory() {
        let config = containerd_config(Path::new("/tmp/run"), "e2e.local/pause:e2e");
        assert!(config.contains(r#"address = "/tmp/run/containerd/containerd.sock""#));
        assert!(config.contains(r#"root = "/tmp/run/containerd/root""#));
        assert!(config.contains(r#"conf_dir = "/tmp/run/cni/net.d""#));
        assert!(config.contains(r#"sandbox_image = "e2e.local/pause:e2e""#));
        assert!(config.contains("SystemdCgroup = false"));
    }

    #[test]
    fn the_pod_network_is_not_masqueraded() {
        let conf: serde_json::Value = serde_json::from_str(&cni_conflist(Path::new("/r"))).unwrap();
        let bridge = &conf["plugins"][0];
        assert_eq!(bridge["bridge"], BRIDGE);
        assert_eq!(bridge["isGateway"], true);
        assert_eq!(bridge["isDefaultGateway"], true);
        assert_eq!(bridge["ipMasq"], false);
        assert_eq!(bridge["ipam"]["dataDir"], "/r/cni/ipam");
        assert!(BRIDGE.len() <= 15, "interface names are at most 15 bytes");
    }

    #[test]
    fn kubelet_listens_on_loopback_with_the_given_ports() {
        let config = kubelet_config(Path::new("/r"), 41000, 41001);
        assert!(config.contains("address: 127.0.0.1\nport: 41000\n"));
        assert!(config.contains("healthzPort: 41001\n"));
        assert!(
            config.contains("containerRuntimeEndpoint: unix:///r/containerd/containerd.sock\n")
        );
        assert!(config.contains("podLogsDir: /r/pod-logs\n"));
    }
}
