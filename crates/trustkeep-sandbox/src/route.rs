//! Request URLs: which document or resource a path names, and the query parameters
//! (percent-decoded).

use std::collections::HashMap;

use super::kinds::{served_groups, Kind};
use super::status::{quote, ApiError};

/// A request for objects of one kind: a collection (no name) or one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceRoute {
    pub kind: Kind,
    /// The namespace in the URL (never set for Namespaces themselves).
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// A `/watch/` path.
    pub watch: bool,
}

impl ResourceRoute {
    /// The namespace as RBAC sees it: for a Namespace, its own name.
    pub fn rbac_namespace(&self) -> Option<&str> {
        match self.kind {
            Kind::Namespace => self.name.as_deref(),
            _ => self.namespace.as_deref(),
        }
    }

    /// The namespace and name in the URL must be usable as names (the API server's
    /// `IsValidPathSegmentName`): not empty, `.` or `..`, without `/` or `%`.
    pub fn check_segments(&self) -> Result<(), ApiError> {
        let segments = [("Namespace", &self.namespace), ("Name", &self.name)];
        for (what, segment) in segments {
            let Some(segment) = segment else { continue };
            let problem = match segment.as_str() {
                "" => Some("may not be empty".to_string()),
                s @ ("." | "..") => Some(format!("may not be '{s}'")),
                s => ["/", "%"]
                    .into_iter()
                    .find(|c| s.contains(c))
                    .map(|c| format!("may not contain '{c}'")),
            };
            if let Some(problem) = problem {
                return Err(ApiError::bad_request(format!(
                    "{what} parameter invalid: {}: {problem}",
                    quote(segment)
                )));
            }
        }
        Ok(())
    }
}

/// What a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Version,
    CoreVersions,
    CoreResources,
    Groups,
    /// `/apis/<group>`, for a served group.
    Group(&'static str),
    /// `/apis/<group>/<version>`, for a served group.
    GroupResources(&'static str),
    OpenApiRoot,
    /// An OpenAPI v3 group-version document, e.g. `api/v1`.
    OpenApi(String),
    Resource(ResourceRoute),
    Unknown,
}

/// Routes `path`; the CRD-made groups (Gloo admin, cert-manager) exist only when `crd`.
pub fn route(path: &str, crd: bool) -> Route {
    let trimmed = path.trim_end_matches('/');
    let segments: Vec<&str> = trimmed.split('/').skip(1).collect();
    match segments.as_slice() {
        ["version"] => Route::Version,
        ["api"] => Route::CoreVersions,
        ["api", "v1"] => Route::CoreResources,
        ["api", "v1", rest @ ..] => resource_route("", rest),
        ["apis"] => Route::Groups,
        ["apis", group, rest @ ..] => {
            let Some((g, v)) = served_groups(crd).into_iter().find(|(g, _)| g == group) else {
                return Route::Unknown;
            };
            match rest {
                [] => Route::Group(g),
                [version] if *version == v => Route::GroupResources(g),
                [version, rest @ ..] if *version == v => resource_route(g, rest),
                _ => Route::Unknown,
            }
        }
        ["openapi", "v3"] => Route::OpenApiRoot,
        ["openapi", "v3", rest @ ..] => Route::OpenApi(rest.join("/")),
        _ => Route::Unknown,
    }
}

fn resource_route(group: &str, rest: &[&str]) -> Route {
    let (watch, rest) = match rest {
        ["watch", r @ ..] => (true, r),
        r => (false, r),
    };
    let found = |plural: &str, namespace: Option<&str>, name: Option<&str>| {
        let kind = Kind::from_plural(plural).filter(|k| k.group() == group)?;
        // Namespaced kinds are also listed across namespaces; cluster-scoped ones never
        // live in a namespace.
        let all_namespaces = namespace.is_none() && name.is_none();
        if kind.namespaced() != namespace.is_some() && !all_namespaces {
            return None;
        }
        Some(Route::Resource(ResourceRoute {
            kind,
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            watch,
        }))
    };
    let route = match rest {
        [plural] => found(plural, None, None),
        ["namespaces", ns, plural] => found(plural, Some(ns), None),
        ["namespaces", ns, plural, name] => found(plural, Some(ns), Some(name)),
        [plural, name] => found(plural, None, Some(name)),
        _ => None,
    };
    route.unwrap_or(Route::Unknown)
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Decodes `%XX` and `+` in a query component.
fn percent_decode(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex);
                let lo = bytes.get(i + 2).copied().and_then(hex);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(ApiError::bad_request(format!(
                        "invalid percent-encoding in query {s:?}"
                    )));
                };
                out.push(hi * 16 + lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request("the query is not valid UTF-8"))
}

/// The query parameters; the last value of a repeated one wins.
pub fn query(raw: Option<&str>) -> Result<HashMap<String, String>, ApiError> {
    let mut params = HashMap::new();
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(percent_decode(k)?, percent_decode(v)?);
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(kind: Kind, ns: Option<&str>, name: Option<&str>) -> Route {
        Route::Resource(ResourceRoute {
            kind,
            namespace: ns.map(Into::into),
            name: name.map(Into::into),
            watch: false,
        })
    }

    #[test]
    fn routes() {
        assert_eq!(
            route("/api/v1/secrets", true),
            res(Kind::Secret, None, None)
        );
        assert_eq!(
            route("/api/v1/namespaces/gloo-mesh/secrets/x", true),
            res(Kind::Secret, Some("gloo-mesh"), Some("x"))
        );
        assert_eq!(
            route("/api/v1/namespaces/a", true),
            res(Kind::Namespace, None, Some("a"))
        );
        assert_eq!(
            route("/api/v1/namespaces/", true),
            res(Kind::Namespace, None, None)
        );
        assert_eq!(route("/api/v1/secrets/x", true), Route::Unknown);
        assert_eq!(
            route("/api/v1/namespaces/a/configmaps", true),
            Route::Unknown
        );
        assert_eq!(
            route("/api/v1/namespaces/a/secrets/x/status", true),
            Route::Unknown
        );
        assert_eq!(
            route(
                "/apis/admin.gloo.solo.io/v2/namespaces/gloo-mesh/roottrustpolicies",
                true
            ),
            res(Kind::RootTrustPolicy, Some("gloo-mesh"), None)
        );
        assert_eq!(
            route("/apis/admin.gloo.solo.io/v2/roottrustpolicies", false),
            Route::Unknown
        );
        assert_eq!(route("/apis/admin.gloo.solo.io/v2", false), Route::Unknown);
        assert_eq!(
            route("/openapi/v3/api/v1", true),
            Route::OpenApi("api/v1".into())
        );
        assert!(matches!(
            route("/api/v1/watch/namespaces/a/secrets", true),
            Route::Resource(ResourceRoute { watch: true, .. })
        ));
    }

    #[test]
    fn segments() {
        let check = |path: &str| match route(path, true) {
            Route::Resource(r) => r.check_segments().map_err(|e| e.message),
            other => panic!("{path}: {other:?}"),
        };
        assert!(check("/api/v1/namespaces/gloo-mesh/secrets/x").is_ok());
        assert!(check("/api/v1/namespaces/Odd_But_Safe/secrets").is_ok());
        assert_eq!(
            check("/api/v1/namespaces/../secrets").unwrap_err(),
            "Namespace parameter invalid: \"..\": may not be '..'"
        );
        assert!(check("/api/v1/namespaces//secrets").is_err());
        assert!(check("/api/v1/namespaces/.").is_err());
        assert_eq!(
            check("/api/v1/namespaces/a/secrets/b%2Fc").unwrap_err(),
            "Name parameter invalid: \"b%2Fc\": may not contain '%'"
        );
    }

    #[test]
    fn queries() {
        let q = query(Some(
            "labelSelector=app%3Dweb%2Ctier+in+%28a%29&dryRun=All&x",
        ))
        .unwrap();
        assert_eq!(q["labelSelector"], "app=web,tier in (a)");
        assert_eq!(q["dryRun"], "All");
        assert_eq!(q["x"], "");
        assert!(query(Some("a=%zz")).is_err());
        assert!(query(Some("a=%e2%28")).is_err());
    }
}
