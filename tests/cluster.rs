// SPDX-License-Identifier: MPL-2.0
//! The batch on a Dask cluster (cluster/redub_dask.py): a LocalCluster of 2 worker processes
//! runs `pianola redub` once per video. Good videos are re-dubbed, a broken one is reported
//! by name with the CLI's error, the exit status says so, and a second run skips the done
//! ones. Installs the venv it needs (scripts/setup-cluster.sh) when it is missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `.venv-cluster`'s python, after the (idempotent) setup script.
fn cluster_python() -> PathBuf {
    let status = Command::new("bash")
        .arg(root().join("scripts/setup-cluster.sh"))
        .status()
        .expect("run scripts/setup-cluster.sh");
    assert!(status.success(), "scripts/setup-cluster.sh failed");
    root().join(".venv-cluster/bin/python")
}

/// Run the driver on `videos` into `out` with 2 local workers: (exit code, stdout, stderr).
fn redub_dask(python: &Path, videos: &Path, out: &Path) -> (Option<i32>, String, String) {
    let o = Command::new(python)
        .arg(root().join("cluster/redub_dask.py"))
        .arg(videos)
        .arg("-o")
        .arg(out)
        .args(["--local", "2", "--midi", "--pianola"])
        .arg(env!("CARGO_BIN_EXE_pianola"))
        .args(["--", "--device", "cpu"])
        .output()
        .expect("run cluster/redub_dask.py");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn dask_batch_redubs_reports_the_broken_video_and_resumes() {
    init();
    let python = cluster_python();
    let dir = tmpdir("cluster");
    // One short pianosim render (about 1.3 s), as three videos, and a file that is no video.
    let (_, clip) = short_performance(&dir, false);
    let videos = dir.join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    let good = ["one", "two", "three"];
    for name in good {
        std::fs::copy(&clip, videos.join(format!("{name}.mp4"))).unwrap();
    }
    std::fs::write(
        videos.join("broken.mp4"),
        b"not a video at all\n".repeat(100),
    )
    .unwrap();
    let out = dir.join("out");

    let (code, stdout, stderr) = redub_dask(&python, &videos, &out);
    assert_eq!(
        code,
        Some(1),
        "a failed video must fail the batch\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(": 2 workers"), "{stdout}");
    assert!(
        stdout.contains("summary: 3 done, 1 failed, 0 skipped of 4 videos"),
        "{stdout}\n{stderr}"
    );
    // The broken one by name, with the CLI's own error.
    let failed = stdout
        .lines()
        .find(|l| l.starts_with("FAILED  broken.mp4"))
        .unwrap_or_else(|| panic!("broken.mp4 not reported\n{stdout}"));
    assert!(failed.contains("pianola: "), "{failed}");
    for name in good {
        assert!(stdout.contains(&format!("ok      {name}.mp4")), "{stdout}");
        for ext in ["mp4", "mid"] {
            let f = out.join(format!("{name}.{ext}"));
            assert!(std::fs::metadata(&f).unwrap().len() > 0, "{}", f.display());
        }
    }
    assert!(!out.join("broken.mp4").exists() && !out.join("broken.mid").exists());

    // Again: the done ones are skipped, only the broken one is tried (and fails) again.
    let (code, stdout, stderr) = redub_dask(&python, &videos, &out);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("summary: 0 done, 1 failed, 3 skipped of 4 videos"),
        "{stdout}\n{stderr}"
    );
    for name in good {
        assert!(stdout.contains(&format!("skip    {name}.mp4")), "{stdout}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
