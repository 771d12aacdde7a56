//! No Secret value ever shows in what the planner or creds-init print or return: plans,
//! warnings, reports and errors (Display and Debug), and the binary's stdout and stderr, on
//! success and on failure. Every value below contains [`SENTINEL`]; the checks also look
//! for the values' base64 forms.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use build_auth::creds_init::{RunInputs, SECRETS_DIR_ENV, run};
use build_auth::k8s_openapi::ByteString;
use build_auth::k8s_openapi::api::core::v1::{ObjectReference, Secret, ServiceAccount};
use build_auth::{PlanInputs, plan};

const SENTINEL: &str = "SENTINEL-7c41e9";

/// A value that must never be shown, made distinct by `what`.
fn value(what: &str) -> String {
    format!("{SENTINEL}-{what}")
}

/// Fails if `text` holds the sentinel, raw or in base64 (the sentinel alone and `values`).
fn assert_clean(context: &str, text: &str, values: &[String]) {
    assert!(
        !text.contains(SENTINEL),
        "{context} shows a secret value:\n{text}"
    );
    for v in values {
        let encoded = BASE64.encode(v);
        assert!(
            !text.contains(&encoded),
            "{context} shows a base64 secret value:\n{text}"
        );
    }
}

fn secret(
    name: &str,
    type_: &str,
    annotations: &[(&str, &str)],
    data: &[(&str, String)],
    string_data: &[(&str, String)],
) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.to_owned());
    s.metadata.annotations = Some(
        annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    s.type_ = Some(type_.to_owned());
    s.data = Some(
        data.iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.clone().into_bytes())))
            .collect(),
    );
    s.string_data = Some(
        string_data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    );
    s
}

fn service_account(listed: &[&str]) -> ServiceAccount {
    let mut sa = ServiceAccount::default();
    sa.metadata.name = Some("build-bot".to_owned());
    sa.secrets = Some(
        listed
            .iter()
            .map(|name| ObjectReference {
                name: Some((*name).to_owned()),
                ..ObjectReference::default()
            })
            .collect(),
    );
    sa
}

fn all_values() -> Vec<String> {
    [
        "user", "pass", "key", "known", "json", "cfg", "token", "notes",
    ]
    .map(value)
    .to_vec()
}

/// Secrets of every type, each value a sentinel; some in `data`, some in `stringData`.
fn secrets() -> Vec<Secret> {
    vec![
        secret(
            "basic",
            "kubernetes.io/basic-auth",
            &[
                ("build.knative.dev/docker-0", "https://index.docker.io/v1/"),
                ("build.knative.dev/git-0", "https://github.com"),
            ],
            &[("username", value("user"))],
            &[("password", value("pass"))],
        ),
        secret(
            "ssh",
            "kubernetes.io/ssh-auth",
            &[
                ("build.knative.dev/git-0", "github.com"),
                ("build.knative.dev/docker-0", "quay.io"),
            ],
            &[("ssh-privatekey", value("key"))],
            &[("known_hosts", value("known"))],
        ),
        secret(
            "json",
            "kubernetes.io/dockerconfigjson",
            &[("build.knative.dev/docker-0", "quay.io")],
            &[(".dockerconfigjson", value("json"))],
            &[],
        ),
        secret(
            "cfg",
            "kubernetes.io/dockercfg",
            &[],
            &[],
            &[(".dockercfg", value("cfg"))],
        ),
        secret(
            "token",
            "kubernetes.io/service-account-token",
            &[],
            &[("token", value("token"))],
            &[],
        ),
        secret(
            "notes",
            "Opaque",
            &[("build.knative.dev/git-0", "github.com")],
            &[],
            &[("notes", value("notes"))],
        ),
    ]
}

#[test]
fn plans_and_warnings_show_no_values() {
    let sa = service_account(&["basic", "ssh", "json", "cfg", "token", "notes"]);
    let secrets = secrets();
    let plan = plan(&PlanInputs {
        service_account: &sa,
        secrets: &secrets,
    })
    .unwrap();
    assert_eq!(plan.args.len(), 5, "{:?}", plan.args);
    assert_eq!(plan.warnings.len(), 3, "{:?}", plan.warnings);
    let values = all_values();
    assert_clean("plan Debug", &format!("{plan:?} {plan:#?}"), &values);
    assert_clean(
        "plan YAML",
        &serde_yaml_ng::to_string(&plan).unwrap(),
        &values,
    );
    for warning in &plan.warnings {
        assert_clean(
            "warning",
            &format!("{warning:?} {}", warning.message),
            &values,
        );
    }
    // The check can fail: the inputs do hold the values.
    assert!(format!("{secrets:?}").contains(SENTINEL));
}

#[test]
fn planner_errors_show_no_values() {
    let mut secrets = secrets();
    // Missing keys next to present ones, Docker Hub misnamed, a conflict, a missing Secret.
    secrets.push(secret(
        "no-password",
        "kubernetes.io/basic-auth",
        &[("build.knative.dev/docker-0", "index.docker.io")],
        &[("username", value("user"))],
        &[],
    ));
    secrets.push(secret(
        "no-key",
        "kubernetes.io/ssh-auth",
        &[("build.knative.dev/git-0", "github.com")],
        &[("known_hosts", value("known"))],
        &[],
    ));
    secrets.push(secret(
        "basic-too",
        "kubernetes.io/basic-auth",
        &[("build.knative.dev/git-0", "github.com")],
        &[("username", value("user"))],
        &[("password", value("pass"))],
    ));
    let sa = service_account(&[
        "basic",
        "ssh",
        "json",
        "no-password",
        "no-key",
        "basic-too",
        "absent",
    ]);
    let report = plan(&PlanInputs {
        service_account: &sa,
        secrets: &secrets,
    })
    .unwrap_err();
    assert!(report.errors().count() >= 5, "{report}");
    let values = all_values();
    assert_clean(
        "report",
        &format!("{report} {report:?} {report:#?}"),
        &values,
    );
    for error in &report {
        assert_clean("error", &format!("{error} {error:?}"), &values);
    }
}

/// A Secret directory per Secret, each value a sentinel, for the binary.
struct Dirs {
    _dir: tempfile::TempDir,
    home: std::path::PathBuf,
    secrets: std::path::PathBuf,
}

/// A file of a Secret: the Secret, the key and the contents.
type SecretFile = (&'static str, &'static str, Vec<u8>);

fn dirs(files: &[SecretFile]) -> Dirs {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let secrets = dir.path().join("secrets");
    for (secret, key, contents) in files {
        std::fs::create_dir_all(secrets.join(secret)).unwrap();
        std::fs::write(secrets.join(secret).join(key), contents).unwrap();
    }
    Dirs {
        _dir: dir,
        home,
        secrets,
    }
}

fn good_files() -> Vec<SecretFile> {
    let json = |inner: &str| {
        format!(r#"{{"auths": {{"quay.io": {{"auth": "{inner}", "username": "{inner}"}}}}}}"#)
    };
    vec![
        ("basic", "username", value("user").into_bytes()),
        ("basic", "password", value("pass").into_bytes()),
        ("ssh", "ssh-privatekey", value("key").into_bytes()),
        ("ssh", "known_hosts", value("known").into_bytes()),
        (
            "json",
            ".dockerconfigjson",
            json(&value("json")).into_bytes(),
        ),
        (
            "cfg",
            ".dockercfg",
            format!(r#"{{"gcr.io": {{"auth": "{}"}}}}"#, value("cfg")).into_bytes(),
        ),
    ]
}

const GOOD_ARGS: &[&str] = &[
    "-basic-docker=basic=https://index.docker.io/v1/",
    "-basic-git=basic=https://github.com",
    "-ssh-git=ssh=github.com",
    "-docker-config=json",
    "-docker-cfg=cfg",
];

fn creds_init(dirs: &Dirs, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_creds-init"))
        .args(args)
        .env_clear()
        .env("HOME", &dirs.home)
        .env(SECRETS_DIR_ENV, &dirs.secrets)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Every file under `dir`, concatenated.
fn written(dir: &Path) -> String {
    let mut out = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                out.push_str(&written(&path));
            } else {
                out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

#[test]
fn creds_init_success_shows_no_values() {
    let d = dirs(&good_files());
    let (ok, text) = creds_init(&d, GOOD_ARGS);
    assert!(ok, "{text}");
    assert_clean("creds-init output", &text, &all_values());
    // The check can fail: the files do hold every value.
    let files = written(&d.home);
    for what in ["user", "pass", "key", "known", "json", "cfg"] {
        assert!(files.contains(&value(what)), "{what} not written");
    }
}

#[test]
fn creds_init_failures_show_no_values() {
    let s = value;
    let cases: BTreeMap<&str, Vec<SecretFile>> = BTreeMap::from([
        (
            "auths of the wrong type",
            vec![(
                "json",
                ".dockerconfigjson",
                format!(r#"{{"auths": "{}"}}"#, s("json")).into_bytes(),
            )],
        ),
        (
            "an entry of the wrong type",
            vec![(
                "json",
                ".dockerconfigjson",
                format!(r#"{{"auths": {{"quay.io": ["{}"]}}}}"#, s("json")).into_bytes(),
            )],
        ),
        (
            "invalid JSON",
            vec![(
                "json",
                ".dockerconfigjson",
                format!(r#"{{"auths": {{"quay.io": {{"auth": {}}}}}}}"#, s("json")).into_bytes(),
            )],
        ),
        (
            "a JSON string",
            vec![(
                "cfg",
                ".dockercfg",
                format!(r#""{}""#, s("cfg")).into_bytes(),
            )],
        ),
        (
            "a user name with a line break",
            vec![
                ("basic", "username", format!("{}\n", s("user")).into_bytes()),
                ("basic", "password", s("pass").into_bytes()),
            ],
        ),
        (
            "a user name that is not UTF-8",
            vec![
                (
                    "basic",
                    "username",
                    [s("user").as_bytes(), b"\xff"].concat(),
                ),
                ("basic", "password", s("pass").into_bytes()),
            ],
        ),
        (
            "a missing password",
            vec![("basic", "username", s("user").into_bytes())],
        ),
        (
            "a missing private key",
            vec![("ssh", "known_hosts", s("known").into_bytes())],
        ),
    ]);
    let values = all_values();
    for (name, files) in cases {
        let mut all = good_files();
        all.retain(|(secret, key, _)| !files.iter().any(|(s, k, _)| s == secret && k == key));
        if name.starts_with("a missing") {
            all.retain(|(secret, _, _)| !files.iter().any(|(s, _, _)| s == secret));
        }
        all.extend(files);
        let d = dirs(&all);
        let (ok, text) = creds_init(&d, GOOD_ARGS);
        assert!(!ok, "{name}: succeeded");
        assert!(text.contains("error"), "{name}: {text}");
        assert_clean(name, &text, &values);
        assert!(written(&d.home).is_empty(), "{name}: wrote files");

        // The library gives the same errors, and its Debug is clean too.
        let args: Vec<String> = GOOD_ARGS.iter().map(|a| (*a).to_owned()).collect();
        let report = run(&RunInputs {
            args: &args,
            secrets_dir: &d.secrets,
            home: &d.home,
        })
        .unwrap_err();
        assert_clean(name, &format!("{report} {report:?}"), &values);
    }
}

#[test]
fn creds_init_duplicates_and_flag_errors_show_no_values() {
    let mut files = good_files();
    files.push(("basic2", "username", value("user").into_bytes()));
    files.push(("basic2", "password", value("pass").into_bytes()));
    let d = dirs(&files);
    for args in [
        &[
            "-basic-docker=basic=quay.io",
            "-basic-docker=basic2=quay.io",
        ][..],
        &[
            "-basic-git=basic=github.com",
            "-basic-git=basic2=https://github.com/",
        ],
        &[
            "-basic-docker=basic",
            "-ssh-git=ssh=ssh://github.com",
            "extra",
        ],
    ] {
        let (ok, text) = creds_init(&d, args);
        assert!(!ok, "{args:?}: succeeded");
        assert_clean(&format!("{args:?}"), &text, &all_values());
    }
}
