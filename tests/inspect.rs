// SPDX-License-Identifier: MPL-2.0
//! The built shared library loads in gst-inspect-1.0 through GST_PLUGIN_PATH alone (no
//! LD_LIBRARY_PATH: libtorch is found through the rpath) and documents its elements.

use std::path::PathBuf;
use std::process::Command;

/// A directory holding only the plugin library this test run was built with.
fn plugin_dir() -> PathBuf {
    // The test binary sits in target/<profile>/deps, next to the freshly built library (the
    // copy in target/<profile> is only refreshed by `cargo build`).
    let exe = std::env::current_exe().unwrap();
    let lib = exe.parent().unwrap().join("libgstpianola.so");
    assert!(lib.is_file(), "{} not built", lib.display());
    let dir = std::env::temp_dir().join(format!("pianola-plugin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&lib, dir.join("libgstpianola.so")).unwrap();
    dir
}

fn inspect(args: &[&str]) -> String {
    let registry =
        std::env::temp_dir().join(format!("pianola-registry-{}.bin", std::process::id()));
    let out = Command::new("gst-inspect-1.0")
        .args(args)
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("GST_REGISTRY", &registry)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("gst-inspect-1.0 (apt install gstreamer1.0-tools)");
    let _ = std::fs::remove_file(&registry);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "gst-inspect-1.0 {args:?} failed: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn plugin_lists_its_elements() {
    let text = inspect(&["pianola"]);
    for e in [
        "roll2midi",
        "midisynth",
        "midienc",
        "pianosim",
        "pianocrop",
        "video2roll",
    ] {
        assert!(text.contains(e), "{e} missing from:\n{text}");
    }
    assert!(text.contains("MPL"));
}

#[test]
fn elements_document_their_properties() {
    let cases: [(&str, &[&str]); 6] = [
        (
            "roll2midi",
            &[
                "threshold",
                "hysteresis",
                "min-note-duration",
                "max-dropout",
                "onset-threshold",
                "smoothing",
                "velocity",
                "tail",
                "mode",
                "refiner",
                "window",
                "live-window",
                "device",
                "processing-margin",
            ],
        ),
        (
            "midisynth",
            &[
                "soundfont",
                "program",
                "gain",
                "polyphony",
                "reverb-chorus",
                "max-tail",
            ],
        ),
        ("midienc", &["program"]),
        (
            "pianosim",
            &[
                "location",
                "seed",
                "width",
                "height",
                "framerate",
                "canonical",
                "falling-notes",
                "lit-keys",
                "keys",
                "tail",
            ],
        ),
        (
            "video2roll",
            &[
                "model",
                "device",
                "batch-size",
                "threads",
                "processing-margin",
            ],
        ),
        (
            "pianocrop",
            &[
                "width",
                "height",
                "corners",
                "keys",
                "lowest-note",
                "timeout",
                "confirm-frames",
                "recheck-interval",
                "draw",
                "orientation",
            ],
        ),
    ];
    for (element, props) in cases {
        let text = inspect(&[element]);
        for p in props {
            assert!(
                text.contains(&format!("  {p} ")),
                "{element} lacks property {p}:\n{text}"
            );
        }
        let caps = if element == "pianocrop" {
            "GRAY8"
        } else {
            "application/x-piano-roll"
        };
        assert!(text.contains(caps), "{element} caps:\n{text}");
    }
    // pianocrop's sink template says the smallest frame it can use.
    let text = inspect(&["pianocrop"]);
    assert!(text.contains("width: [ 64,"), "{text}");
    assert!(text.contains("height: [ 16,"), "{text}");
}
