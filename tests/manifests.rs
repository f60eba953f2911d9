//! `restore --to-manifests DIR` writes plaintext Secrets with export's rules: no symbolic
//! link planted in DIR is followed, the whole target is checked before the first write, and
//! the directory gets every file or none.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use crate::util::Work;

fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn manifests_are_private_files_under_private_directories() {
    let w = Work::new();
    let a = w.backup_sample("a.age");
    let dir = w.path("out");
    let r = w.with_id("restore", &a, &["--to-manifests", dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    let written = files(&dir);
    assert_eq!(written.len(), 5, "{written:?}");
    for f in &written {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
        let parent = Path::new(f).parent().unwrap();
        let mode = std::fs::metadata(parent).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", parent.display());
    }
}

#[test]
fn a_planted_symlink_or_existing_file_refuses_the_whole_write() {
    let w = Work::new();
    let a = w.backup_sample("a.age");
    let outside = w.path("outside");
    std::fs::create_dir(&outside).unwrap();
    let victim = outside.join("victim.yaml");
    std::fs::write(&victim, "untouched\n").unwrap();
    type Plant = fn(&Path, &Path, &Path);
    let cases: &[(&str, Plant, &str)] = &[
        (
            "namespace directory is a symlink",
            |dir, outside, _| {
                symlink(outside, dir.join("gloo-mesh")).unwrap();
            },
            "is a symbolic link; refusing to write secrets through it",
        ),
        (
            "target file is a symlink",
            |dir, _, victim| {
                std::fs::create_dir(dir.join("gloo-mesh")).unwrap();
                symlink(victim, dir.join("gloo-mesh/relay-server-tls-secret.yaml")).unwrap();
            },
            "is a symbolic link; refusing to write secrets through it",
        ),
        (
            "the last target file exists",
            |dir, _, _| {
                std::fs::create_dir(dir.join("gloo-mesh")).unwrap();
                std::fs::write(
                    dir.join("gloo-mesh/relay-tls-signing-secret.yaml"),
                    "mine\n",
                )
                .unwrap();
            },
            "already exists; refusing to overwrite it (nothing was written)",
        ),
    ];
    for (i, (name, plant, expected)) in cases.iter().enumerate() {
        let dir = w.path(&format!("out-{i}"));
        std::fs::create_dir(&dir).unwrap();
        plant(&dir, &outside, &victim);
        let before = files(&dir);
        let r = w.with_id("restore", &a, &["--to-manifests", dir.to_str().unwrap()]);
        assert_eq!(r.code, 2, "case {name}: {r:?}");
        assert!(r.stderr.contains(expected), "case {name}: {}", r.stderr);
        assert_eq!(files(&dir), before, "case {name}: something was written");
        assert_eq!(
            files(&outside),
            vec![victim.to_string_lossy().into_owned()],
            "case {name}: wrote outside DIR"
        );
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "untouched\n",
            "case {name}"
        );
    }
}
