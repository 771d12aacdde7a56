//! The command-line syntax of the in-pod programs (`creds-init` here, `git-init` in
//! `build-pod`), which is Go's `flag` package's, as Knative Build's programs were written in
//! Go: `-name`, `--name`, `-name=value` or `--name=value`, and a value without `=` in the next
//! argument.

/// Splits one argument into a flag name and its value after `=`, if it has one; `None` when
/// it is not a flag (no leading `-`, just `-` or `--`, or three dashes).
///
/// ```
/// use build_auth::go_flag;
/// assert_eq!(go_flag::split("--url=https://h/r.git"), Some(("url", Some("https://h/r.git"))));
/// assert_eq!(go_flag::split("-basic-git=a=b"), Some(("basic-git", Some("a=b"))));
/// assert_eq!(go_flag::split("-revision"), Some(("revision", None)));
/// assert_eq!(go_flag::split("positional"), None);
/// assert_eq!(go_flag::split("---url"), None);
/// ```
pub fn split(argument: &str) -> Option<(&str, Option<&str>)> {
    let body = argument
        .strip_prefix("--")
        .or_else(|| argument.strip_prefix('-'))
        .filter(|body| !body.is_empty() && !body.starts_with('-'))?;
    Some(match body.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (body, None),
    })
}
