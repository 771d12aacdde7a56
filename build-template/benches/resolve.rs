//! Resolving templates: the seed's buildkit template, and generated templates of 50, 100 and 200
//! steps with 20 parameters, to show that the cost grows linearly with the number of steps.

#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use std::hint::black_box;

use build_template::resolve;
use build_types::k8s_openapi::api::core::v1::{Container, EnvVar, Volume, VolumeMount};
use build_types::{ArgumentSpec, Build, BuildSpec, BuildTemplate, BuildTemplateSpec};
use build_types::{ParameterSpec, TemplateInstantiationSpec};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const PARAMETERS: usize = 20;

/// A template of `steps` steps, each referring to several of the 20 parameters in its image,
/// arguments, environment and volume mounts, with one volume per step.
fn large_template(count: usize) -> BuildTemplateSpec {
    let parameters = (0..PARAMETERS)
        .map(|p| ParameterSpec {
            name: format!("PARAM_{p}"),
            description: Some(format!("parameter number {p}")),
            default: (p % 2 == 0).then(|| format!("default-{p}")),
        })
        .collect();
    let reference = |i: usize| format!("${{PARAM_{}}}", i % PARAMETERS);
    let steps = (0..count)
        .map(|i| Container {
            name: format!("step-{i}-{}", reference(i)),
            image: Some(format!(
                "gcr.io/{}/builder:{}",
                reference(i + 1),
                reference(i + 2)
            )),
            args: Some(vec![
                "build".into(),
                format!("--destination={}:{}", reference(i + 3), reference(i + 4)),
                format!("--context=/workspace/{}", reference(i + 5)),
                "--cache=true".into(),
                "echo $HOME ${HOME} $${ESCAPED}".into(),
            ]),
            command: Some(vec!["/bin/sh".into(), "-c".into()]),
            working_dir: Some(format!("/workspace/{}", reference(i + 6))),
            env: Some(vec![
                EnvVar {
                    name: "PLAIN".into(),
                    value: Some("no references here".into()),
                    value_from: None,
                },
                EnvVar {
                    name: "TARGET".into(),
                    value: Some(reference(i + 7)),
                    value_from: None,
                },
            ]),
            volume_mounts: Some(vec![VolumeMount {
                name: format!("vol-{i}"),
                mount_path: format!("/cache/{}", reference(i + 8)),
                ..Default::default()
            }]),
            ..Default::default()
        })
        .collect();
    let volumes = (0..count)
        .map(|i| Volume {
            name: format!("vol-{i}"),
            ..Default::default()
        })
        .collect();
    BuildTemplateSpec {
        parameters,
        steps,
        volumes,
    }
}

fn large_build() -> BuildSpec {
    BuildSpec {
        template: Some(TemplateInstantiationSpec {
            name: "large".into(),
            arguments: (0..PARAMETERS)
                .filter(|p| p % 2 == 1 || p % 4 == 0)
                .map(|p| ArgumentSpec {
                    name: format!("PARAM_{p}"),
                    value: format!("argument-value-{p}"),
                })
                .collect(),
            env: vec![EnvVar {
                name: "TARGET".into(),
                value: Some("${PARAM_1}".into()),
                value_from: None,
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn large(c: &mut Criterion) {
    let build = large_build();
    let mut group = c.benchmark_group("resolve/large");
    for steps in [50, 100, 200] {
        let template = large_template(steps);
        // Sanity: the generated template resolves, with one `${HOME}` warning per step.
        let resolved = resolve(&build, Some(&template)).unwrap();
        assert_eq!(resolved.warnings.len(), steps);
        group.throughput(Throughput::Elements(steps as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(steps),
            &template,
            |b, template| b.iter(|| resolve(black_box(&build), Some(black_box(template)))),
        );
    }
    group.finish();
}

fn seed(c: &mut Criterion) {
    let template: BuildTemplate =
        serde_yaml_ng::from_str(include_str!("../../examples/seed/buildkit.yaml")).unwrap();
    let build: Build =
        serde_yaml_ng::from_str(include_str!("../../examples/seed/kubeval-buildkit.yaml")).unwrap();
    resolve(&build.spec, Some(&template.spec)).unwrap();
    c.bench_function("resolve/seed-buildkit", |b| {
        b.iter(|| resolve(black_box(&build.spec), Some(black_box(&template.spec))))
    });
}

criterion_group!(benches, large, seed);
criterion_main!(benches);
