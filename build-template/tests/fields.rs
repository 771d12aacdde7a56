//! Walks every field of the substituted-fields table in the crate documentation: a template and
//! a Build that put a reference in each listed field, each field labelled with its path.

use build_template::{lint_template, resolve};
use build_types::TemplateInstantiationSpec;
use build_types::k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, ConfigMapKeySelector, ConfigMapVolumeSource, Container, EnvFromSource,
    EnvVar, EnvVarSource, HostPathVolumeSource, PersistentVolumeClaimVolumeSource, SecretEnvSource,
    SecretKeySelector, SecretVolumeSource, Volume, VolumeMount,
};
use build_types::{ArgumentSpec, BuildSpec, BuildTemplateSpec, ParameterSpec};

/// Every substituted field, as the crate documentation lists it.
const TEMPLATE_FIELDS: &[&str] = &[
    "steps[0].name",
    "steps[0].image",
    "steps[0].args[0]",
    "steps[0].command[0]",
    "steps[0].workingDir",
    "steps[0].env[0].value",
    "steps[0].env[1].valueFrom.configMapKeyRef.name",
    "steps[0].env[1].valueFrom.configMapKeyRef.key",
    "steps[0].env[2].valueFrom.secretKeyRef.name",
    "steps[0].env[2].valueFrom.secretKeyRef.key",
    "steps[0].envFrom[0].configMapRef.name",
    "steps[0].envFrom[1].secretRef.name",
    "steps[0].volumeMounts[0].name",
    "steps[0].volumeMounts[0].mountPath",
    "steps[0].volumeMounts[0].subPath",
    "volumes[0].name",
    "volumes[0].persistentVolumeClaim.claimName",
    "volumes[1].name",
    "volumes[1].configMap.name",
    "volumes[2].name",
    "volumes[2].secret.secretName",
    "volumes[3].name",
    "volumes[3].hostPath.path",
];

const BUILD_FIELDS: &[&str] = &[
    "build.template.env[0].value",
    "build.template.env[1].valueFrom.configMapKeyRef.name",
    "build.template.env[1].valueFrom.configMapKeyRef.key",
    "build.template.env[2].valueFrom.secretKeyRef.name",
    "build.template.env[2].valueFrom.secretKeyRef.key",
    "build.volumes[0].name",
    "build.volumes[0].persistentVolumeClaim.claimName",
    "build.volumes[1].name",
    "build.volumes[1].configMap.name",
    "build.volumes[2].name",
    "build.volumes[2].secret.secretName",
    "build.volumes[3].name",
    "build.volumes[3].hostPath.path",
];

/// The value of the field at `path`: its path, `=`, a reference to `P`.
fn labelled(path: &str) -> String {
    format!("{path}=${{P}}")
}

fn env(prefix: &str, name: &str) -> Vec<EnvVar> {
    let at = |i: usize, rest: &str| labelled(&format!("{prefix}[{i}]{rest}"));
    vec![
        EnvVar {
            name: format!("{name}_VALUE"),
            value: Some(at(0, ".value")),
            value_from: None,
        },
        EnvVar {
            name: format!("{name}_CONFIG"),
            value: None,
            value_from: Some(EnvVarSource {
                config_map_key_ref: Some(ConfigMapKeySelector {
                    name: at(1, ".valueFrom.configMapKeyRef.name"),
                    key: at(1, ".valueFrom.configMapKeyRef.key"),
                    optional: None,
                }),
                ..Default::default()
            }),
        },
        EnvVar {
            name: format!("{name}_SECRET"),
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: at(2, ".valueFrom.secretKeyRef.name"),
                    key: at(2, ".valueFrom.secretKeyRef.key"),
                    optional: None,
                }),
                ..Default::default()
            }),
        },
    ]
}

fn volumes(prefix: &str) -> Vec<Volume> {
    let at = |i: usize, rest: &str| labelled(&format!("{prefix}[{i}]{rest}"));
    vec![
        Volume {
            name: at(0, ".name"),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: at(0, ".persistentVolumeClaim.claimName"),
                read_only: None,
            }),
            ..Default::default()
        },
        Volume {
            name: at(1, ".name"),
            config_map: Some(ConfigMapVolumeSource {
                name: at(1, ".configMap.name"),
                ..Default::default()
            }),
            ..Default::default()
        },
        Volume {
            name: at(2, ".name"),
            secret: Some(SecretVolumeSource {
                secret_name: Some(at(2, ".secret.secretName")),
                ..Default::default()
            }),
            ..Default::default()
        },
        Volume {
            name: at(3, ".name"),
            host_path: Some(HostPathVolumeSource {
                path: at(3, ".hostPath.path"),
                type_: None,
            }),
            ..Default::default()
        },
    ]
}

fn template(parameters: Vec<ParameterSpec>) -> BuildTemplateSpec {
    let step = Container {
        name: labelled("steps[0].name"),
        image: Some(labelled("steps[0].image")),
        args: Some(vec![labelled("steps[0].args[0]")]),
        command: Some(vec![labelled("steps[0].command[0]")]),
        working_dir: Some(labelled("steps[0].workingDir")),
        env: Some(env("steps[0].env", "STEP")),
        env_from: Some(vec![
            EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource {
                    name: labelled("steps[0].envFrom[0].configMapRef.name"),
                    optional: None,
                }),
                ..Default::default()
            },
            EnvFromSource {
                secret_ref: Some(SecretEnvSource {
                    name: labelled("steps[0].envFrom[1].secretRef.name"),
                    optional: None,
                }),
                ..Default::default()
            },
        ]),
        volume_mounts: Some(vec![VolumeMount {
            name: labelled("steps[0].volumeMounts[0].name"),
            mount_path: labelled("steps[0].volumeMounts[0].mountPath"),
            sub_path: Some(labelled("steps[0].volumeMounts[0].subPath")),
            ..Default::default()
        }]),
        ..Default::default()
    };
    BuildTemplateSpec {
        parameters,
        steps: vec![step],
        volumes: volumes("volumes"),
    }
}

fn build() -> BuildSpec {
    BuildSpec {
        template: Some(TemplateInstantiationSpec {
            name: "everything".into(),
            arguments: vec![ArgumentSpec {
                name: "P".into(),
                value: "v".into(),
            }],
            env: env("build.template.env", "BUILD"),
            ..Default::default()
        }),
        volumes: volumes("build.volumes"),
        ..Default::default()
    }
}

fn parameter_p() -> Vec<ParameterSpec> {
    vec![ParameterSpec {
        name: "P".into(),
        description: None,
        default: None,
    }]
}

#[test]
fn every_listed_field_is_substituted() {
    let resolved = resolve(&build(), Some(&template(parameter_p()))).unwrap();
    assert!(resolved.warnings.is_empty(), "{:?}", resolved.warnings);
    let yaml = serde_yaml_ng::to_string(&(&resolved.steps, &resolved.volumes)).unwrap();
    for path in TEMPLATE_FIELDS.iter().chain(BUILD_FIELDS) {
        assert!(
            yaml.contains(&format!("{path}=v")),
            "{path} not substituted:\n{yaml}"
        );
    }
    assert!(!yaml.contains("${P}"), "a reference is left:\n{yaml}");
    insta::assert_yaml_snapshot!(resolved.steps);
    insta::assert_yaml_snapshot!(resolved.volumes);
}

#[test]
fn every_listed_field_is_reported_when_unknown() {
    let build = BuildSpec {
        template: Some(TemplateInstantiationSpec {
            arguments: Vec::new(),
            ..build().template.unwrap()
        }),
        ..build()
    };
    let resolved = resolve(&build, Some(&template(Vec::new()))).unwrap();
    let paths: Vec<&str> = resolved.warnings.iter().map(|w| w.path.as_str()).collect();
    let mut expected: Vec<&str> = TEMPLATE_FIELDS
        .iter()
        .filter(|path| path.starts_with("steps"))
        .chain(BUILD_FIELDS)
        .chain(
            TEMPLATE_FIELDS
                .iter()
                .filter(|path| path.starts_with("volumes")),
        )
        .copied()
        .collect();
    assert_eq!(paths, expected);
    assert!(
        resolved.warnings.iter().all(|w| w
            .to_string()
            .ends_with(": unknown parameter ${P} left as written")),
        "{:#?}",
        resolved.warnings
    );

    let linted = lint_template(&template(Vec::new()));
    let paths: Vec<&str> = linted.iter().map(|w| w.path.as_str()).collect();
    expected.retain(|path| !path.starts_with("build."));
    assert_eq!(paths, expected);
}
