// SPDX-License-Identifier: MPL-2.0
//! `pianola redub VIDEOS_OR_FOLDERS --out-dir D`: a folder of short rendered clips and a
//! broken one. The good ones are done, the broken one is named with its reason and the exit
//! status says so; a second run skips what is done and tries the broken one again.

mod common;

use std::path::Path;

use common::*;

/// Run `pianola redub <args>` on the CPU: (success, stdout, stderr).
fn redub(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    pianola(&["redub", "--device", "cpu"], args, &[])
}

macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($a)),*] };
}

/// A 3 s pianosim performance of procedural music (`seed`) as H.264 in `file` (MP4 or
/// Matroska, by its extension).
fn clip(file: &Path, seed: u64) {
    let midi = file.with_extension("mid");
    let notes = gstpianola::core::music::procedural(seed, 3.0);
    std::fs::write(
        &midi,
        gstpianola::core::midi::notes_to_smf(&notes, Some(0)).unwrap(),
    )
    .unwrap();
    let mux = if file.extension().is_some_and(|e| e == "mkv") {
        "matroskamux"
    } else {
        "mp4mux"
    };
    run(
        &parse(&format!(
            "pianosim location={} seed={seed} width=640 height=360 framerate=25/1 ! videoconvert ! \
             x264enc speed-preset=ultrafast ! {mux} ! filesink location={}",
            midi.display(),
            file.display()
        )),
        std::time::Duration::from_secs(120),
    )
    .unwrap();
    std::fs::remove_file(midi).unwrap();
}

fn modified(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

/// The files in `dir` (names), sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_folder_is_redubbed_the_broken_video_reported_and_a_second_run_resumes() {
    init();
    let dir = tmpdir("redub-batch");
    let videos = dir.join("videos");
    std::fs::create_dir_all(videos.join("sub")).unwrap();
    clip(&videos.join("a.mp4"), 1);
    clip(&videos.join("b.mkv"), 2);
    clip(&videos.join("sub/c.mp4"), 3);
    // Cut in half: the MP4's index (written last) is gone.
    let whole = std::fs::read(videos.join("a.mp4")).unwrap();
    std::fs::write(videos.join("broken.mp4"), &whole[..whole.len() / 2]).unwrap();
    // Not videos, or hidden: passed over.
    std::fs::write(videos.join("notes.txt"), "not a video").unwrap();
    std::fs::write(videos.join(".hidden.mp4"), "not looked at").unwrap();
    let out = dir.join("out");

    let run1 = redub(args![
        &videos,
        "--out-dir",
        &out,
        "--jobs",
        "2",
        "--formats",
        "mp4,mid"
    ]);
    let (ok, stdout, stderr) = &run1;
    assert!(!ok, "a broken video must fail the run:\n{stdout}\n{stderr}");
    // The broken one is named, with the reason, on stderr and in the summary.
    let line = stderr
        .lines()
        .find(|l| l.contains("broken.mp4 failed: "))
        .unwrap_or_else(|| panic!("no failure line for broken.mp4 in:\n{stderr}"));
    let reason = line.split("failed: ").nth(1).unwrap_or_default();
    assert!(reason.len() > 10, "no reason in: {line}");
    assert!(
        stdout.contains(&format!(
            "failed  {}: {reason}",
            videos.join("broken.mp4").display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("3 videos: 2 done, 1 failed, 0 skipped"),
        "{stdout}"
    );
    assert!(stderr.contains("1 of 3 videos failed"), "{stderr}");
    // The good ones are done (not the sub-folder's: no --recursive); nothing else is left,
    // no temporary file and nothing of the broken one.
    assert_eq!(names(&out), ["a.mid", "a.mp4", "b.mid", "b.mp4"]);
    for v in ["a", "b"] {
        let notes = gstpianola::core::midi::smf_to_notes(
            &std::fs::read(out.join(format!("{v}.mid"))).unwrap(),
        )
        .unwrap();
        assert!(!notes.is_empty(), "{v}.mid has no notes");
        assert!(
            std::fs::metadata(out.join(format!("{v}.mp4")))
                .unwrap()
                .len()
                > 10_000
        );
    }
    let written = modified(&out.join("a.mp4"));

    // Again: the done ones are skipped (not written again), the broken one tried again.
    let (ok, stdout, stderr) = redub(args![
        &videos,
        "--out-dir",
        &out,
        "--jobs",
        "2",
        "--formats",
        "mp4,mid"
    ]);
    assert!(!ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("3 videos: 0 done, 1 failed, 2 skipped"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("skipped {}", videos.join("a.mp4").display())),
        "{stdout}"
    );
    assert!(stderr.contains("broken.mp4 failed: "), "{stderr}");
    assert_eq!(modified(&out.join("a.mp4")), written);

    // The broken one gone, --recursive adds the sub-folder's video (its output in out/sub);
    // a and b have their MIDI already.
    std::fs::remove_file(videos.join("broken.mp4")).unwrap();
    let (ok, stdout, stderr) = redub(args![
        &videos,
        "--out-dir",
        &out,
        "--recursive",
        "--formats",
        "mid",
        "-q"
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "-q prints nothing: {stdout}");
    assert!(out.join("sub/c.mid").is_file());
    assert_eq!(modified(&out.join("a.mp4")), written);

    // --force does one again.
    let (ok, stdout, stderr) = redub(args![
        &videos.join("a.mp4"),
        "--out-dir",
        &out,
        "--formats",
        "mid",
        "--force"
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("1 video: 1 done, 0 failed, 0 skipped"),
        "{stdout}"
    );
}

#[test]
fn batch_mistakes_are_refused_before_any_work() {
    init();
    let dir = tmpdir("redub-batch-errors");
    let videos = dir.join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    // Placeholders: nothing below decodes them.
    for f in ["x.mp4", "x.mkv", "y.mov"] {
        std::fs::write(videos.join(f), "video").unwrap();
    }
    let out = dir.join("out");
    let (x, y, o) = (
        videos.join("x.mp4"),
        videos.join("y.mov"),
        dir.join("o.mp4"),
    );
    let (missing, empty, m) = (dir.join("missing"), dir.join("empty"), dir.join("m.mid"));
    std::fs::create_dir_all(&empty).unwrap();
    let cases: [(&[&std::ffi::OsStr], &str); 9] = [
        (args![&y, &x, "-o", &o], "give --out-dir"),
        (args![&videos, "-o", &o], "is a folder: give --out-dir"),
        (
            args![&y, "-o", &o, "--jobs", "2"],
            "--jobs goes with --out-dir",
        ),
        (args![&videos, "--out-dir", &out], "would both write"),
        (
            args![&y, "--out-dir", &out, "--formats", "mp4,mkv"],
            "one video format",
        ),
        (args![&y, "--out-dir", &out, "--midi", &m], "--formats"),
        (
            args![&videos, "--out-dir", &videos],
            "is the folder being re-dubbed",
        ),
        (
            args![&missing, "--out-dir", &out],
            "no such video or folder",
        ),
        (args![&empty, "--out-dir", &out], "no videos"),
    ];
    for (args, expected) in cases {
        let (ok, _, e) = redub(args);
        assert!(
            !ok && e.contains(expected),
            "{args:?}: expected {expected:?} in {e}"
        );
    }
    assert!(!out.exists(), "nothing may be written");
}
