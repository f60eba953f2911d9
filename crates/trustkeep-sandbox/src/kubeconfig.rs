//! The kubeconfig that points clients at a sandbox: one cluster (server URL and CA), one user
//! (bearer token) and one context, made current.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

/// A YAML kubeconfig whose cluster, user and context are all named `context`.
pub fn render(server: &str, ca_pem: &str, token: &str, context: &str) -> String {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": context,
            "cluster": {
                "server": server,
                "certificate-authority-data": STANDARD.encode(ca_pem.as_bytes()),
            },
        }],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [{
            "name": context,
            "context": {"cluster": context, "user": context, "namespace": "default"},
        }],
        "current-context": context,
        "preferences": {},
    });
    // Serializing a JSON value built here cannot fail; fall back to JSON (valid YAML) anyway.
    serde_saphyr::to_string(&config).unwrap_or_else(|_| config.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_kubeconfig() {
        let text = render("https://127.0.0.1:1234", "PEM", "tok: en", "my-ctx");
        let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(v["current-context"], "my-ctx");
        assert_eq!(
            v["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:1234"
        );
        assert_eq!(
            v["clusters"][0]["cluster"]["certificate-authority-data"],
            "UEVN"
        );
        assert_eq!(v["users"][0]["user"]["token"], "tok: en");
        assert_eq!(v["contexts"][0]["context"]["cluster"], "my-ctx");
    }
}
