//! Archives in Azure Blob Storage (`az://container/key`), against a real server: Azurite, the
//! Azure Storage emulator (npm `azurite@3.35.0`, installed by `.ci/run`), started per test on a
//! free loopback port. trustkeep reaches it through the usual `AZURE_*` variables. Azurite
//! honours `If-None-Match: *`, so the conditional create behind "never overwrite" is checked
//! here for real, not only the look-before-write.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::live::Live;
use crate::util::{self, tk_env, tk_vars, Run, Work};

/// Azurite's well-known development account (published in Microsoft's documentation).
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const CONTAINER: &str = "backups";

/// `azurite-blob` from the PATH, else where `.ci/run` installs it.
fn azurite_blob() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("azurite-blob"))
            .find(|f| f.is_file())
    });
    on_path.unwrap_or_else(|| {
        let home = std::env::var_os("HOME").expect("HOME");
        PathBuf::from(home).join(".cache/trustkeep-npm/node_modules/.bin/azurite-blob")
    })
}

/// A running Azurite (blob service only) with one container, killed on drop.
pub(crate) struct Azurite {
    child: Child,
    port: u16,
}

impl Azurite {
    pub(crate) fn start(w: &Work) -> Azurite {
        let root = w.path("azurite");
        std::fs::create_dir_all(&root).unwrap();
        let bin = azurite_blob();
        // Port 0: Azurite binds a free port itself and prints it, so parallel tests never race
        // for one.
        let mut child = Command::new(&bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", "0"])
            .arg("--location")
            .arg(&root)
            // Without it Azurite tries to reach the internet.
            .args(["--disableTelemetry", "--silent"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} (npm install --prefix ~/.cache/trustkeep-npm azurite@3.35.0): {e}",
                    bin.display()
                )
            });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Owned at once, so that Drop kills it whatever happens next.
        let mut az = Azurite { child, port: 0 };
        const READY: &str = "successfully listens on http://127.0.0.1:";
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some((_, port)) = line.split_once(READY) {
                az.port = port.trim().parse().expect("a port");
                break;
            }
        }
        assert_ne!(az.port, 0, "{} exited before listening", bin.display());
        // Keep reading, so that Azurite never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let (status, body) = az.request("PUT", CONTAINER, &[("restype", "container")], b"", &[]);
        assert_eq!(
            status,
            201,
            "create container: {}",
            String::from_utf8_lossy(&body)
        );
        az
    }

    /// What trustkeep needs: the emulator switch and where this Azurite listens.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR", "true".into()),
            (
                "AZURITE_BLOB_STORAGE_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
        ]
    }

    /// The same service configured as a production account would be: name, key, endpoint.
    fn account_env(&self, key: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT.into()),
            ("AZURE_STORAGE_ACCOUNT_KEY", key.into()),
            (
                "AZURE_STORAGE_ENDPOINT",
                format!("http://127.0.0.1:{}/{ACCOUNT}", self.port),
            ),
            ("AZURE_ALLOW_HTTP", "true".into()),
        ]
    }

    pub(crate) fn tk(&self, args: &[&str]) -> Run {
        tk_vars(&self.env(), args)
    }

    /// One Shared Key-signed request to the blob service, over HTTP/1.0 (no chunked replies).
    /// `path` is `container[/blob]`; returns the status and body.
    fn request(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> (u16, Vec<u8>) {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let mut ms: Vec<(String, String)> = headers
            .iter()
            .filter(|(k, _)| k.to_ascii_lowercase().starts_with("x-ms-"))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        ms.push(("x-ms-date".into(), date));
        ms.push(("x-ms-version".into(), "2021-08-06".into()));
        ms.sort();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
                .unwrap_or("")
        };
        let length = if body.is_empty() {
            String::new()
        } else {
            body.len().to_string()
        };
        let mut sorted_query = query.to_vec();
        sorted_query.sort();
        let mut to_sign = format!(
            "{method}\n\n\n{length}\n\n{}\n\n\n\n{}\n\n\n",
            header("Content-Type"),
            header("If-None-Match")
        );
        for (k, v) in &ms {
            to_sign.push_str(&format!("{k}:{v}\n"));
        }
        to_sign.push_str(&format!("/{ACCOUNT}/{ACCOUNT}/{path}"));
        for (k, v) in &sorted_query {
            to_sign.push_str(&format!("\n{k}:{v}"));
        }
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &b64.decode(KEY).unwrap());
        let signature = b64.encode(ring::hmac::sign(&key, to_sign.as_bytes()));

        let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let target = if q.is_empty() {
            format!("/{ACCOUNT}/{path}")
        } else {
            format!("/{ACCOUNT}/{path}?{}", q.join("&"))
        };
        let mut all: Vec<(&str, String)> =
            vec![("Authorization", format!("SharedKey {ACCOUNT}:{signature}"))];
        all.extend(ms.iter().map(|(k, v)| (k.as_str(), v.clone())));
        all.extend(
            headers
                .iter()
                .filter(|(k, _)| !k.to_ascii_lowercase().starts_with("x-ms-"))
                .map(|(k, v)| (*k, v.to_string())),
        );
        util::http10(self.port, method, &target, &all, body)
    }

    /// The blob names under `prefix`, as the service lists them.
    pub(crate) fn objects(&self, prefix: &str) -> Vec<String> {
        let (status, body) = self.request(
            "GET",
            CONTAINER,
            &[
                ("comp", "list"),
                ("prefix", prefix),
                ("restype", "container"),
            ],
            b"",
            &[],
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let xml = String::from_utf8(body).unwrap();
        let mut names: Vec<String> = xml
            .split("<Name>")
            .skip(1)
            .filter_map(|s| s.split("</Name>").next())
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    fn read(&self, blob: &str) -> Vec<u8> {
        let (status, body) = self.request("GET", &format!("{CONTAINER}/{blob}"), &[], b"", &[]);
        assert_eq!(status, 200, "GET {blob}");
        body
    }

    /// Replaces a blob (unconditionally, as a careless operator or an attacker would).
    fn overwrite(&self, blob: &str, bytes: &[u8]) {
        let (status, body) = self.request(
            "PUT",
            &format!("{CONTAINER}/{blob}"),
            &[],
            bytes,
            &[("x-ms-blob-type", "BlockBlob")],
        );
        assert_eq!(
            status,
            201,
            "PUT {blob}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn backup(az: &Azurite, out: &str) -> Run {
    let from = util::fixture("sample/mgmt.yaml");
    let r = util::recipient();
    az.tk(&[
        "backup",
        "--from",
        from.to_str().unwrap(),
        "-r",
        &r,
        "-o",
        out,
        "--cluster",
        "mgmt",
    ])
}

#[test]
#[ignore = "needs azurite"]
fn archives_round_trip_through_azure_blob_storage() {
    let w = Work::new();
    let az = Azurite::start(&w);
    let r = backup(&az, "az://backups/gloo/");
    assert_eq!(r.code, 0, "{r:?}");
    let first = r.stdout.lines().next().unwrap().to_string();
    assert!(
        first.starts_with("az://backups/gloo/mgmt-") && first.ends_with(".tar.gz.age"),
        "{first}"
    );
    // A second backup in the same second gets its own name; nothing is overwritten.
    let r = backup(&az, "az://backups/gloo/");
    assert_eq!(r.code, 0, "{r:?}");
    let second = r.stdout.lines().next().unwrap().to_string();
    assert_ne!(first, second);
    let objects = az.objects("gloo/");
    assert_eq!(
        objects.len(),
        4,
        "two archives and two sidecars: {objects:?}"
    );
    // The sidecar blob is what sha256sum would say of the archive blob.
    let key = first.strip_prefix("az://backups/").unwrap();
    let name = key.rsplit('/').next().unwrap();
    use sha2::Digest;
    assert_eq!(
        String::from_utf8(az.read(&format!("{key}.sha256"))).unwrap(),
        format!(
            "{}  {name}\n",
            hex::encode(sha2::Sha256::digest(az.read(key)))
        )
    );

    let id = w.id();
    let id = id.to_str().unwrap();
    let r = az.tk(&["list", "az://backups/gloo/", "-i", id, "--output", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let listed: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let listed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["archive"].as_str().unwrap())
        .collect();
    // Newest first.
    assert_eq!(listed, [second.as_str(), first.as_str()]);
    let r = az.tk(&["verify", "az://backups/gloo/", "-i", id, "--at", util::AT]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("ok: 2 archive(s), 0 unreadable"),
        "{}",
        r.stdout
    );
    let r = az.tk(&["inspect", &first, "-i", id, "--output", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let dir = w.path("ex");
    let r = az.tk(&["export", &first, "-i", id, "--dir", dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(dir
        .join("secrets/gloo-mesh/relay-server-tls-secret/tls.key")
        .exists());
    let manifests = w.path("manifests");
    let r = az.tk(&[
        "restore",
        &second,
        "-i",
        id,
        "--to-manifests",
        manifests.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        manifests.join("gloo-mesh").is_dir(),
        "{:?}",
        std::fs::read_dir(&manifests).map(|d| d.count())
    );
    // Retention on the prefix: keep the newest, delete the other archive and its sidecar.
    let r = az.tk(&["prune", "az://backups/gloo/", "--keep-last", "1"]);
    assert_eq!(r.code, 0, "{r:?}");
    let left = az.objects("gloo/");
    let newest = second.strip_prefix("az://backups/").unwrap();
    assert_eq!(left, vec![newest.to_string(), format!("{newest}.sha256")]);
}

#[test]
#[ignore = "needs azurite"]
fn the_service_refuses_a_second_create_of_the_same_blob() {
    // The protocol trustkeep relies on, with the same client and features it is built with:
    // PutMode::Create is `If-None-Match: *`, and Azurite answers 409 to the second one.
    use object_store::{ObjectStore, PutMode, PutOptions};
    // As main does: reqwest is built without a default TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let w = Work::new();
    let az = Azurite::start(&w);
    let store = object_store::azure::MicrosoftAzureBuilder::new()
        .with_account(ACCOUNT)
        .with_access_key(KEY)
        .with_endpoint(format!("http://127.0.0.1:{}/{ACCOUNT}", az.port))
        .with_allow_http(true)
        .with_container_name(CONTAINER)
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let path = object_store::path::Path::from("race/one.tar.gz.age");
    let create = || PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    rt.block_on(store.put_opts(&path, b"first".to_vec().into(), create()))
        .unwrap();
    let second = rt.block_on(store.put_opts(&path, b"second".to_vec().into(), create()));
    assert!(
        matches!(second, Err(object_store::Error::AlreadyExists { .. })),
        "{second:?}"
    );
    assert_eq!(az.read("race/one.tar.gz.age"), b"first");

    // Through the binary: backups racing for one explicit name. Exactly one wins; the others
    // are refused (by the look first or by the condition), and the survivor matches its
    // sidecar, which it would not if a loser had overwritten it after the look.
    let from = util::fixture("sample/mgmt.yaml");
    let r = util::recipient();
    let env = az.env();
    let children: Vec<_> = (0..6)
        .map(|_| {
            let mut cmd = Command::new(util::bin());
            cmd.args([
                "backup",
                "--from",
                from.to_str().unwrap(),
                "-r",
                &r,
                "-o",
                "az://backups/race/two.tar.gz.age",
            ])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
            for (k, v) in &env {
                cmd.env(k, v);
            }
            cmd.spawn().unwrap()
        })
        .collect();
    let (mut won, mut by_condition) = (0, 0);
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            won += 1;
        } else {
            assert!(
                stderr.contains("az://backups/race/two.tar.gz.age")
                    && stderr.contains("refusing to overwrite"),
                "{stderr}"
            );
            by_condition += stderr.contains("the server refused a second create") as u32;
        }
    }
    assert_eq!(won, 1, "exactly one backup may create the archive");
    // How many lost the race after the look (timing-dependent, so reported, not asserted).
    println!("6 racing backups: 1 created, {by_condition} refused by If-None-Match, the rest by the look first");
    let id = w.id();
    let v = az.tk(&[
        "verify",
        "az://backups/race/two.tar.gz.age",
        "-i",
        id.to_str().unwrap(),
        "--at",
        util::AT,
    ]);
    assert_eq!(v.code, 0, "{v:?}");
}

#[test]
#[ignore = "needs azurite"]
fn restore_from_azure_blob_storage_into_a_cluster() {
    let w = Work::new();
    let az = Azurite::start(&w);
    let live = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    let r = backup(&az, "az://backups/gloo");
    assert_eq!(r.code, 0, "{r:?}");
    let archive = r.stdout.lines().next().unwrap().to_string();
    assert!(
        archive.starts_with("az://backups/gloo/mgmt-"),
        "a prefix without its slash: {archive}"
    );
    live.restores_deleted_secret_from(&w, &archive, |a| az.tk(a));
}

#[test]
#[ignore = "needs azurite"]
fn azure_faults_are_clear_errors() {
    let w = Work::new();
    let az = Azurite::start(&w);
    // Configured like a production account (name, key, endpoint) rather than the emulator switch.
    let r = tk_vars(
        &az.account_env(KEY),
        &[
            "backup",
            "--from",
            util::fixture("sample/mgmt.yaml").to_str().unwrap(),
            "-r",
            &util::recipient(),
            "-o",
            "az://backups/gloo/",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let archive = r.stdout.lines().next().unwrap().to_string();
    let id = w.id();
    let id = id.to_str().unwrap();
    // A wrong key: the object and the variables to check.
    let wrong = "d3Jvbmcga2V5IGZvciB0aGUgdGVzdHMgb25seQ==";
    let r = tk_vars(&az.account_env(wrong), &["inspect", &archive, "-i", id]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains(&archive) && r.stderr.contains("AZURE_STORAGE_ACCOUNT_KEY"),
        "{}",
        r.stderr
    );
    // Nothing configured at all: said before any request is made.
    let r = tk_env(&["inspect", &archive, "-i", id], &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains(&archive) && r.stderr.contains("AZURE_STORAGE_ACCOUNT_NAME"),
        "{}",
        r.stderr
    );
    // No such blob, and no such container.
    let r = az.tk(&["inspect", "az://backups/gloo/absent.tar.gz.age", "-i", id]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("az://backups/gloo/absent.tar.gz.age: no such object"),
        "{}",
        r.stderr
    );
    let r = backup(&az, "az://nocontainer/gloo/");
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("az://nocontainer/gloo/mgmt-") && r.stderr.contains("no such container"),
        "{}",
        r.stderr
    );
    // An altered blob is caught by its sidecar.
    let key = archive.strip_prefix("az://backups/").unwrap();
    let mut bytes = az.read(key);
    let n = bytes.len();
    bytes[n - 10] ^= 1;
    az.overwrite(key, &bytes);
    let r = az.tk(&["verify", &archive, "-i", id]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.contains("does not match") && r.stdout.contains(".sha256"),
        "{}",
        r.stdout
    );
    // Nothing listening: a clear error rather than a hang.
    let r = tk_env(
        &["inspect", &archive, "-i", id],
        &[
            ("AZURE_STORAGE_USE_EMULATOR", "true"),
            ("AZURITE_BLOB_STORAGE_URL", "http://127.0.0.1:1"),
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains(&archive) && r.stderr.contains("is the endpoint reachable?"),
        "{}",
        r.stderr
    );
}

#[test]
#[ignore = "needs azurite"]
fn signatures_travel_with_their_archives_and_forged_ones_are_refused() {
    let w = Work::new();
    let az = Azurite::start(&w);
    let k = crate::signing::keys(&w);
    let from = util::fixture("sample/mgmt.yaml");
    let signed = |key: &std::path::Path| {
        let r = az.tk(&[
            "backup",
            "--from",
            from.to_str().unwrap(),
            "-r",
            &util::recipient(),
            "-o",
            "az://backups/gloo/",
            "--cluster",
            "mgmt",
            "--sign-key",
            key.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{r:?}");
        r.stdout.lines().next().unwrap().to_string()
    };
    let good = signed(&k.trusted);
    let forged = signed(&k.foreign);
    let objects = az.objects("gloo/");
    assert_eq!(
        objects.len(),
        6,
        "archives, sidecars, signatures: {objects:?}"
    );
    let key = good.strip_prefix("az://backups/").unwrap();
    let sig = String::from_utf8(az.read(&format!("{key}.sig"))).unwrap();
    assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----"), "{sig}");
    crate::signing::check_store(&w, &k, &|a| az.tk(a), "az://backups/gloo/", &good, &forged);
    let r = az.tk(&["prune", "az://backups/gloo/", "--keep-last", "1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(az.objects("gloo/").len(), 3, "{:?}", az.objects("gloo/"));
}
