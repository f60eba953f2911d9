//! Crash safety: `backup` and `restore --to-manifests` are killed (SIGKILL) at many points,
//! deterministically spread over a normal run's duration. Whatever is left under a final name
//! must be complete (an archive that `verify` accepts, a manifest identical to an unkilled
//! run's); anything else must be a clearly named temporary file (`.trustkeep-*.tmp`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{self, fixture, Work};

const KILL_POINTS: u64 = 24;

fn backup_args(out: &Path) -> Vec<String> {
    vec![
        "backup".into(),
        "--from".into(),
        fixture("sample/mgmt.yaml").to_str().unwrap().into(),
        "-r".into(),
        util::recipient(),
        "-o".into(),
        format!("{}/", out.display()),
    ]
}

/// Runs the binary and kills it after `delay` (if it is still running); whether it was.
fn run_and_kill(args: &[String], delay: Duration) -> bool {
    let mut child = Command::new(util::bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let killed = child.try_wait().unwrap().is_none();
    if killed {
        child.kill().unwrap(); // SIGKILL on Unix
    }
    child.wait().unwrap();
    killed
}

fn timed(args: &[String]) -> Duration {
    let start = Instant::now();
    let st = Command::new(util::bin()).args(args).output().unwrap();
    assert!(st.status.success(), "{st:?}");
    start.elapsed()
}

/// The kill point of seed `i`: spread over `0..span`, in a fixed scrambled order.
fn delay(i: u64, span: Duration) -> Duration {
    let step = (i * 7919) % KILL_POINTS;
    span.mul_f64(step as f64 / KILL_POINTS as f64)
}

fn is_temp(name: &str) -> bool {
    name.starts_with(".trustkeep-") && name.ends_with(".tmp")
}

#[test]
fn a_killed_backup_never_leaves_a_damaged_archive_under_a_final_name() {
    let w = Work::new();
    let span = timed(&backup_args(&w.path("warmup")));
    let (mut killed, mut archives, mut temps) = (0, 0, 0);
    for i in 0..KILL_POINTS {
        let out = w.path(&format!("out-{i}"));
        std::fs::create_dir(&out).unwrap();
        killed += run_and_kill(&backup_args(&out), delay(i, span)) as u32;
        for e in std::fs::read_dir(&out).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if is_temp(&name) {
                temps += 1;
            } else if name.ends_with(".age") {
                archives += 1;
                let r = w.with_id("verify", &out.join(&name), &[]);
                assert!(
                    r.code == 0 || r.code == 1,
                    "kill point {i}: {name} fails verify: {r:?}"
                );
            } else {
                assert!(
                    name.ends_with(".age.sha256"),
                    "kill point {i}: unexpected file {name}"
                );
            }
        }
    }
    println!("backup: {KILL_POINTS} kill points ({killed} killed mid-run), {archives} final archives all verify, {temps} temporary files left, 0 corrupt");
    assert!(
        killed > 0,
        "no run was killed: the kill points miss the run"
    );
}

#[test]
fn a_killed_restore_to_manifests_leaves_only_complete_files() {
    let w = Work::new();
    let a = w.backup_sample("a.age");
    let id = w.id();
    let args = |dir: &Path| -> Vec<String> {
        [
            "restore",
            a.to_str().unwrap(),
            "-i",
            id.to_str().unwrap(),
            "--to-manifests",
            dir.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    let reference = w.path("reference");
    let span = timed(&args(&reference));
    let mut killed = 0;
    for i in 0..KILL_POINTS {
        let dir = w.path(&format!("m-{i}"));
        killed += run_and_kill(&args(&dir), delay(i, span)) as u32;
        let Ok(namespaces) = std::fs::read_dir(&dir) else {
            continue;
        };
        for ns in namespaces {
            let ns = ns.unwrap();
            for f in std::fs::read_dir(ns.path()).unwrap() {
                let f = f.unwrap();
                let name = f.file_name().into_string().unwrap();
                if is_temp(&name) {
                    continue;
                }
                let want = reference.join(ns.file_name()).join(&name);
                assert_eq!(
                    std::fs::read(f.path()).unwrap(),
                    std::fs::read(&want).unwrap(),
                    "kill point {i}: {name} is incomplete"
                );
            }
        }
    }
    println!("restore --to-manifests: {KILL_POINTS} kill points ({killed} killed mid-run), 0 incomplete files");
    assert!(killed > 0, "no run was killed");
}
