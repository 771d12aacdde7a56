//! The API permissions the controller needs: one declared table, from which the release's
//! ClusterRole and Role are generated, and the mapping of an HTTP request to the permission it
//! needs, with which the tests check the table against the requests the controller makes.

#[cfg(any(test, feature = "testing"))]
use http::{Method, Uri};
use k8s_openapi::api::rbac::v1::PolicyRule;

/// Where a [`Permission`] is granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// In every namespace, by the ClusterRole: the controller reconciles Builds anywhere.
    Cluster,
    /// Only in the controller's own namespace, by a Role: its leader-election Lease.
    OwnNamespace,
}

/// One verb on one resource that the controller uses, and the code that uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    /// The API group, `""` for the core group.
    pub group: &'static str,
    /// The resource, with its subresource after a slash (`builds/status`).
    pub resource: &'static str,
    /// The Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`.
    pub verb: &'static str,
    /// Where it is granted.
    pub scope: Scope,
    /// The code path that makes this request.
    pub used_by: &'static str,
}

const fn grant(
    group: &'static str,
    resource: &'static str,
    verb: &'static str,
    used_by: &'static str,
) -> Permission {
    Permission {
        group,
        resource,
        verb,
        scope: Scope::Cluster,
        used_by,
    }
}

const BUILD_GROUP: &str = "build.knative.dev";

/// Everything the controller may do, one row per verb. The release's ClusterRole and Role are
/// generated from this table, and the `rbac` integration test checks both ways that it matches
/// the requests the controller makes: each request is allowed by a row, and each row is used.
///
/// Nothing here deletes, and Secrets, ServiceAccounts and templates are read-only.
pub const PERMISSIONS: &[Permission] = &[
    grant(
        BUILD_GROUP,
        "builds",
        "list",
        "run: the start-up check that the CRD is served, and the Build reflector's initial list",
    ),
    grant(BUILD_GROUP, "builds", "watch", "run: the Build reflector"),
    grant(
        BUILD_GROUP,
        "builds/status",
        "patch",
        "reconcile: every status write (a merge patch carrying the cached resourceVersion)",
    ),
    grant(
        BUILD_GROUP,
        "buildtemplates",
        "list",
        "run: the BuildTemplate reflector",
    ),
    grant(
        BUILD_GROUP,
        "buildtemplates",
        "watch",
        "run: the BuildTemplate reflector",
    ),
    grant(
        BUILD_GROUP,
        "clusterbuildtemplates",
        "list",
        "run: the ClusterBuildTemplate reflector",
    ),
    grant(
        BUILD_GROUP,
        "clusterbuildtemplates",
        "watch",
        "run: the ClusterBuildTemplate reflector",
    ),
    grant(
        "",
        "pods",
        "list",
        "run: the reflector of pods labelled build.knative.dev/buildName",
    ),
    grant(
        "",
        "pods",
        "watch",
        "run: the reflector of pods labelled build.knative.dev/buildName",
    ),
    grant(
        "",
        "pods",
        "get",
        "reconcile: confirming that a pod the status records, missing from the cache, is gone",
    ),
    grant("", "pods", "create", "reconcile: starting a Build's pod"),
    grant(
        "",
        "pods",
        "patch",
        "reconcile: stopping a pod (timeout, cancel, image errors) by lowering activeDeadlineSeconds",
    ),
    grant(
        "",
        "serviceaccounts",
        "list",
        "run: the ServiceAccount reflector",
    ),
    grant(
        "",
        "serviceaccounts",
        "watch",
        "run: the ServiceAccount reflector",
    ),
    grant("", "secrets", "list", "run: the Secret reflector"),
    grant("", "secrets", "watch", "run: the Secret reflector"),
    grant(
        "",
        "events",
        "create",
        "reconcile: Recorder::publish, the first Event of its kind on a Build (core/v1, for its legacy timestamps)",
    ),
    grant(
        "",
        "events",
        "patch",
        "reconcile: Recorder::publish, a repeat of an Event (its count and lastTimestamp)",
    ),
    Permission {
        group: "coordination.k8s.io",
        resource: "leases",
        verb: "get",
        scope: Scope::OwnNamespace,
        used_by: "leader election: reading the Lease before every acquire or renew",
    },
    Permission {
        group: "coordination.k8s.io",
        resource: "leases",
        verb: "create",
        scope: Scope::OwnNamespace,
        used_by: "leader election: the first replica creates the Lease",
    },
    Permission {
        group: "coordination.k8s.io",
        resource: "leases",
        verb: "update",
        scope: Scope::OwnNamespace,
        used_by: "leader election: renewing, taking over an expired Lease, releasing it",
    },
];

/// The RBAC rules that grant the [`PERMISSIONS`] of `scope`: one rule per API group and set of
/// verbs, resources sorted, verbs in the table's order. Deterministic.
///
/// ```
/// let rules = build_controller::release::rbac::policy_rules(build_controller::release::rbac::Scope::OwnNamespace);
/// assert_eq!(rules.len(), 1);
/// assert_eq!(rules[0].resources.as_deref(), Some(&["leases".to_owned()][..]));
/// assert_eq!(rules[0].verbs, ["get", "create", "update"]);
/// ```
pub fn policy_rules(scope: Scope) -> Vec<PolicyRule> {
    // (group, verbs) → resources, in first-seen order of groups.
    let mut rules: Vec<(&str, Vec<&str>, Vec<&str>)> = Vec::new();
    let mut resources: Vec<(&str, &str)> = Vec::new();
    for permission in PERMISSIONS.iter().filter(|p| p.scope == scope) {
        let key = (permission.group, permission.resource);
        if !resources.contains(&key) {
            resources.push(key);
        }
    }
    for (group, resource) in resources {
        let verbs: Vec<&str> = PERMISSIONS
            .iter()
            .filter(|p| p.scope == scope && p.group == group && p.resource == resource)
            .map(|p| p.verb)
            .collect();
        match rules
            .iter_mut()
            .find(|(g, v, _)| *g == group && *v == verbs)
        {
            Some((_, _, resources)) => resources.push(resource),
            None => rules.push((group, verbs, vec![resource])),
        }
    }
    rules
        .into_iter()
        .map(|(group, verbs, mut resources)| {
            resources.sort_unstable();
            PolicyRule {
                api_groups: Some(vec![group.to_owned()]),
                resources: Some(resources.into_iter().map(str::to_owned).collect()),
                verbs: verbs.into_iter().map(str::to_owned).collect(),
                ..PolicyRule::default()
            }
        })
        .collect()
}

/// What an HTTP request to the API server asks for, in the terms RBAC authorizes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiRequest {
    /// The API group, `""` for the core group.
    pub group: String,
    /// The resource, with its subresource after a slash (`builds/status`).
    pub resource: String,
    /// The verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete` or
    /// `deletecollection`.
    pub verb: String,
    /// The namespace, for a namespaced request.
    pub namespace: Option<String>,
    /// The object's name, for a request on one object.
    pub name: Option<String>,
}

impl ApiRequest {
    /// Reads a resource request (`/api/v1/…` or `/apis/GROUP/VERSION/…`) as the API server's
    /// authorizer does; `None` for any other path (discovery, `/version`, non-resource URLs).
    ///
    /// ```
    /// use build_controller::release::rbac::ApiRequest;
    /// let uri = "/apis/build.knative.dev/v1alpha1/namespaces/ns/builds/b/status?&fieldManager=x";
    /// let request = ApiRequest::from_http(&http::Method::PATCH, &uri.parse().unwrap()).unwrap();
    /// assert_eq!(
    ///     (request.group.as_str(), request.resource.as_str(), request.verb.as_str()),
    ///     ("build.knative.dev", "builds/status", "patch")
    /// );
    /// let watch = "/api/v1/pods?&watch=true&labelSelector=x";
    /// let request = ApiRequest::from_http(&http::Method::GET, &watch.parse().unwrap()).unwrap();
    /// assert_eq!((request.resource.as_str(), request.verb.as_str()), ("pods", "watch"));
    /// ```
    #[cfg(any(test, feature = "testing"))]
    pub fn from_http(method: &Method, uri: &Uri) -> Option<ApiRequest> {
        let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
        let (group, rest) = match segments.as_slice() {
            ["api", _version, rest @ ..] => ("", rest),
            ["apis", group, _version, rest @ ..] => (*group, rest),
            _ => return None,
        };
        let (namespace, rest) = match rest {
            // `namespaces/NAME` alone is the Namespace object itself.
            ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (Some(*namespace), rest),
            rest => (None, rest),
        };
        let (resource, name, subresource) = match rest {
            [resource] => (*resource, None, None),
            [resource, name] => (*resource, Some(*name), None),
            [resource, name, subresource] => (*resource, Some(*name), Some(*subresource)),
            _ => return None,
        };
        let watch = uri.query().is_some_and(|query| {
            query
                .split('&')
                .any(|pair| pair == "watch=true" || pair == "watch=1")
        });
        let verb = match (method, name.is_some()) {
            (&Method::GET | &Method::HEAD, _) if watch => "watch",
            (&Method::GET | &Method::HEAD, true) => "get",
            (&Method::GET | &Method::HEAD, false) => "list",
            (&Method::POST, _) => "create",
            (&Method::PUT, _) => "update",
            (&Method::PATCH, _) => "patch",
            (&Method::DELETE, true) => "delete",
            (&Method::DELETE, false) => "deletecollection",
            _ => return None,
        };
        Some(ApiRequest {
            group: group.to_owned(),
            resource: match subresource {
                Some(subresource) => format!("{resource}/{subresource}"),
                None => resource.to_owned(),
            },
            verb: verb.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
        })
    }

    /// The row of [`PERMISSIONS`] that allows this request for a controller running in
    /// `own_namespace`, if any.
    pub fn permission(&self, own_namespace: &str) -> Option<&'static Permission> {
        PERMISSIONS.iter().find(|p| {
            p.group == self.group
                && p.resource == self.resource
                && p.verb == self.verb
                && match p.scope {
                    Scope::Cluster => true,
                    Scope::OwnNamespace => self.namespace.as_deref() == Some(own_namespace),
                }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: Method, uri: &str, expected: Option<(&str, &str, &str, Option<&str>)>) {
        let got = ApiRequest::from_http(&method, &uri.parse().unwrap());
        let got = got.as_ref().map(|r| {
            (
                r.group.as_str(),
                r.resource.as_str(),
                r.verb.as_str(),
                r.namespace.as_deref(),
            )
        });
        assert_eq!(got, expected, "{method} {uri}");
    }

    #[test]
    fn requests_map_to_verbs() {
        check(
            Method::GET,
            "/api/v1/namespaces/ns/pods/p",
            Some(("", "pods", "get", Some("ns"))),
        );
        check(
            Method::GET,
            "/api/v1/pods?&limit=500",
            Some(("", "pods", "list", None)),
        );
        check(
            Method::GET,
            "/api/v1/namespaces/ns/secrets?&watch=true&resourceVersion=1",
            Some(("", "secrets", "watch", Some("ns"))),
        );
        check(
            Method::POST,
            "/api/v1/namespaces/ns/events?",
            Some(("", "events", "create", Some("ns"))),
        );
        check(
            Method::PUT,
            "/apis/coordination.k8s.io/v1/namespaces/kb/leases/l",
            Some(("coordination.k8s.io", "leases", "update", Some("kb"))),
        );
        check(
            Method::DELETE,
            "/api/v1/namespaces/ns/pods",
            Some(("", "pods", "deletecollection", Some("ns"))),
        );
        check(
            Method::GET,
            "/api/v1/namespaces/ns",
            Some(("", "namespaces", "get", None)),
        );
        check(Method::GET, "/version", None);
        check(Method::GET, "/apis/build.knative.dev/v1alpha1", None);
    }

    #[test]
    fn leases_only_in_the_own_namespace() {
        let lease = |ns: &str| {
            ApiRequest::from_http(
                &Method::GET,
                &format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/l")
                    .parse()
                    .unwrap(),
            )
            .unwrap()
        };
        assert!(lease("knative-build").permission("knative-build").is_some());
        assert!(lease("other").permission("knative-build").is_none());
    }

    #[test]
    fn no_row_twice_and_nothing_destructive() {
        for (i, a) in PERMISSIONS.iter().enumerate() {
            assert!(
                ![
                    "delete",
                    "deletecollection",
                    "*",
                    "escalate",
                    "bind",
                    "impersonate"
                ]
                .contains(&a.verb),
                "{a:?}"
            );
            for b in &PERMISSIONS[i + 1..] {
                assert!(
                    (a.group, a.resource, a.verb) != (b.group, b.resource, b.verb),
                    "{a:?} twice"
                );
            }
        }
    }

    #[test]
    fn rules_group_resources_with_the_same_verbs() {
        let rules = policy_rules(Scope::Cluster);
        let shown: Vec<String> = rules
            .iter()
            .map(|r| {
                format!(
                    "{:?} {:?} {:?}",
                    r.api_groups.as_deref().unwrap_or_default(),
                    r.resources.as_deref().unwrap_or_default(),
                    r.verbs
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                r#"["build.knative.dev"] ["builds", "buildtemplates", "clusterbuildtemplates"] ["list", "watch"]"#,
                r#"["build.knative.dev"] ["builds/status"] ["patch"]"#,
                r#"[""] ["pods"] ["list", "watch", "get", "create", "patch"]"#,
                r#"[""] ["secrets", "serviceaccounts"] ["list", "watch"]"#,
                r#"[""] ["events"] ["create", "patch"]"#,
            ]
        );
    }
}
