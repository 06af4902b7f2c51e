// SPDX-License-Identifier: MPL-2.0
//! The README's gst-launch-1.0 line works as written with the built plugin on GST_PLUGIN_PATH
//! and nothing else: no PIANOLA_MODEL_DIR, PIANOLA_MODEL or installed model. The plugin finds
//! the models of the source tree it was built in.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The first line of the README that runs gst-launch-1.0 on in.mp4, as printed there.
fn readme_line() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    readme
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("gst-launch-1.0 filesrc location=in.mp4"))
        .expect("a gst-launch-1.0 line on in.mp4 in README.md")
        .to_string()
}

/// The plugin library cargo built for this test run: the test binary sits in
/// target/<profile>/deps, beside it (`cargo test` builds the cdylib with the tests).
fn built_plugin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let lib = exe.parent().expect("deps folder").join("libgstpianola.so");
    assert!(lib.is_file(), "{} not built", lib.display());
    lib
}

#[test]
fn the_readme_gst_launch_line_runs_with_only_gst_plugin_path() {
    init();
    let line = readme_line();
    assert!(line.contains("location=out.wav"), "{line}");
    let dir = tmpdir("readme-line");
    // in.mp4: a short rendered performance, in the folder the line runs in.
    let (_, video) = short_performance(&dir, false);
    assert_eq!(video, dir.join("in.mp4"));
    // GST_PLUGIN_PATH holds the built library alone (target/<profile>/deps holds other
    // libraries too), linked, not copied: the plugin finds its models from where it was built.
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let lib = built_plugin();
    std::os::unix::fs::symlink(&lib, plugins.join("libgstpianola.so")).unwrap();
    // A user with nothing installed: an empty data home (no ~/.local/share/pianola/models).
    let home = dir.join("data-home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(&line)
        .current_dir(&dir)
        .env("GST_PLUGIN_PATH", &plugins)
        .env("GST_REGISTRY", dir.join("registry.bin"))
        .env("XDG_DATA_HOME", &home)
        .env("GST_DEBUG", "video2roll:4")
        .env("GST_DEBUG_NO_COLOR", "1")
        .env_remove("PIANOLA_MODEL_DIR")
        .env_remove("PIANOLA_MODEL")
        .env_remove("PIANOLA_REFINER")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("sh and gst-launch-1.0 (apt install gstreamer1.0-tools)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{line}\n{stdout}\n{stderr}");
    // The model came from the tree the plugin was built in.
    let models = gstpianola::model::source_tree_models(&lib).expect("the library is in a tree");
    let shipped = models.join("video2roll.safetensors");
    assert!(
        stderr.contains(&format!("loaded {}", shipped.display())),
        "not {} in:\n{stderr}",
        shipped.display()
    );
    assert_loud(&dir.join("out.wav"));
}

/// A WAV with sound in it.
fn assert_loud(wav: &Path) {
    let reader = hound::WavReader::open(wav).expect("out.wav");
    let spec = reader.spec();
    assert!(reader.duration() as f64 / spec.sample_rate as f64 > 1.0);
    let loud = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .filter_map(|s| s.ok())
            .filter(|s| s.abs() > 0.03)
            .count(),
        hound::SampleFormat::Int => reader
            .into_samples::<i32>()
            .filter_map(|s| s.ok())
            .filter(|s| (*s as f64).abs() > 0.03 * (1i64 << (spec.bits_per_sample - 1)) as f64)
            .count(),
    };
    assert!(loud > 1000, "{} loud samples in {}", loud, wav.display());
}
