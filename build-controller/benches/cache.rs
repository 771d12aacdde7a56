//! The heap a finished Build costs in the controller's Build cache: 10,000 finished Builds, as
//! the API server lists them, decoded straight into [`CachedBuild`]s and applied to a
//! kube-runtime store as a relist does. Counts the bytes and allocations the global allocator
//! holds for them; deterministic, so one run is the number (docs/PERFORMANCE.md, eighth round).
//!
//! `cargo bench -p build-controller --bench cache`

use std::alloc::System;

use build_controller::stores::CachedBuild;
use kube::runtime::reflector;
use kube::runtime::watcher::Event;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// How many finished Builds the cache holds.
const BUILDS: usize = 10_000;

/// Bytes and allocations the allocator holds now.
fn held() -> (usize, usize) {
    let stats = GLOBAL.stats();
    (
        stats.bytes_allocated - stats.bytes_deallocated,
        stats.allocations - stats.deallocations,
    )
}

/// Build `index` as `bench-controller` leaves it, finished, as the API server lists it: its
/// `managedFields`, its step, and a status whose names, pod and times are its own.
fn finished_json(index: usize) -> String {
    let (hour, minute, second) = (index / 3600 % 4, index / 60 % 60, index % 60);
    let started = (index + 59) % 60;
    let pod = format!("bench-{index}-pod-{:05x}", index * 7919 % 0xfffff);
    let done = format!("2026-12-06T2{hour}:{minute:02}:{second:02}Z");
    let start = format!("2026-12-06T2{hour}:{minute:02}:{started:02}Z");
    serde_json::json!({
        "apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
        "metadata": {
            "creationTimestamp": start, "generation": 1,
            "managedFields": [
                {"apiVersion": "build.knative.dev/v1alpha1", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:spec": {".": {}, "f:steps": {}}}, "manager": "bench",
                 "operation": "Update", "time": start},
                {"apiVersion": "build.knative.dev/v1alpha1", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:status": {".": {}, "f:cluster": {}}},
                 "manager": "build-controller", "operation": "Update",
                 "subresource": "status", "time": done},
            ],
            "name": format!("bench-{index}"), "namespace": "bench-restart-1796597200017",
            "resourceVersion": (100_000 + index).to_string(),
            "uid": format!("0c3f6a2e-5b1d-4c7e-9f8a-{index:012}"),
        },
        "spec": {"steps": [{"args": ["echo", "plain"], "image": "busybox", "name": "build"}]},
        "status": {
            "builder": "Cluster",
            "cluster": {"namespace": "bench-restart-1796597200017", "podName": pod},
            "completionTime": done,
            "conditions": [{"lastTransitionTime": done, "status": "True", "type": "Succeeded"}],
            "controllerVersion": "0.1.0", "podName": pod, "startTime": start,
            "stepStates": [{"terminated": {"exitCode": 0, "finishedAt": done,
                "reason": "Completed", "startedAt": start}}],
            "stepsCompleted": ["build-step-build"],
            "stepImages": [{"step": "build-step-build", "image": "busybox",
                "imageID": "docker.io/library/busybox@sha256:\
                    e3652a00a2fabd16ce889f0aa32c38eec347b997e73bd09e69c962ec7f8732ee"}],
        },
    })
    .to_string()
}

fn main() {
    let lists: Vec<String> = (0..BUILDS).map(finished_json).collect();
    let (store, mut writer) = reflector::store::<CachedBuild>();
    writer.apply_watcher_event(&Event::Init);
    let (bytes_before, allocations_before) = held();
    for json in &lists {
        let build: CachedBuild = serde_json::from_str(json).expect("a Build");
        assert!(build.is_finished());
        writer.apply_watcher_event(&Event::InitApply(build));
    }
    writer.apply_watcher_event(&Event::InitDone);
    let (bytes, allocations) = held();
    assert_eq!(store.len(), BUILDS);
    let per_build = |total: usize, before: usize| (total - before) as f64 / BUILDS as f64;
    println!(
        "Build cache, {BUILDS} finished Builds after a relist: {:.0} bytes and {:.1} allocations \
         of heap a Build ({:.1} MiB in all; CachedBuild {} bytes inline)",
        per_build(bytes, bytes_before),
        per_build(allocations, allocations_before),
        (bytes - bytes_before) as f64 / (1 << 20) as f64,
        size_of::<CachedBuild>(),
    );
}
