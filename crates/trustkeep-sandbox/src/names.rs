//! Validation of names as the API server does it: RFC 1123 subdomains and labels (object and
//! namespace names), label keys and values, and Secret data keys. Each function returns the
//! API server's explanation when the value is invalid.

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// Whether `s` is an RFC 1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, any length.
fn is_label_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            edge(first) && edge(last) && b.iter().all(|c| edge(c) || *c == b'-')
        }
        _ => false,
    }
}

/// Object names of most kinds (Secrets, custom resources): at most 253 characters.
pub fn dns_subdomain(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    if s.split('.').all(is_label_syntax) {
        Ok(())
    } else {
        Err(SUBDOMAIN_MSG.into())
    }
}

/// Namespace names: at most 63 characters, no dots.
pub fn dns_label(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    if is_label_syntax(s) {
        Ok(())
    } else {
        Err(LABEL_MSG.into())
    }
}

/// Keys of a Secret's `data`.
pub fn config_key(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    let ok = !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    if !ok {
        return Err(CONFIG_KEY_MSG.into());
    }
    match s {
        "." => Err("must not be '.'".into()),
        ".." => Err("must not be '..'".into()),
        _ if s.starts_with("..") => Err("must not start with '..'".into()),
        _ => Ok(()),
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, without the length limit.
fn is_qualified_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Label values: empty, or at most 63 characters of the qualified-name syntax.
pub fn label_value(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    if s.is_empty() || is_qualified_syntax(s) {
        Ok(())
    } else {
        Err(LABEL_VALUE_MSG.into())
    }
}

/// Label and annotation keys: `[prefix/]name`, the prefix a DNS subdomain.
pub fn qualified_name(s: &str) -> Result<(), String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            return Err("prefix part must be non-empty".into());
        }
        dns_subdomain(p).map_err(|m| format!("prefix part {m}"))?;
    }
    if name.is_empty() {
        return Err("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Err("name part must be no more than 63 characters".into());
    }
    if is_qualified_syntax(name) {
        Ok(())
    } else {
        Err(QUALIFIED_NAME_MSG.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains() {
        assert!(dns_subdomain("relay-server-tls-secret").is_ok());
        assert!(dns_subdomain("root-trust-policy.gloo-mesh").is_ok());
        assert!(dns_subdomain("sh.helm.release.v1.gloo-platform.v1").is_ok());
        for bad in ["", "Upper", "-x", "x-", "a..b", "a_b", "x."] {
            assert!(dns_subdomain(bad).is_err(), "{bad}");
        }
        assert!(dns_subdomain(&"a".repeat(254)).is_err());
    }

    #[test]
    fn labels_and_keys() {
        assert!(dns_label("gloo-mesh").is_ok());
        assert!(dns_label("a.b").is_err());
        assert!(config_key("tls.crt").is_ok());
        assert!(config_key(".dockerconfigjson").is_ok());
        assert!(config_key("a/b").is_err());
        assert!(config_key("..x").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("Helm").is_ok());
        assert!(label_value("a b").is_err());
        assert!(qualified_name("app.kubernetes.io/managed-by").is_ok());
        assert!(qualified_name("app").is_ok());
        assert!(qualified_name("/x").is_err());
        assert!(qualified_name("Bad_Prefix/x").is_err());
    }
}
