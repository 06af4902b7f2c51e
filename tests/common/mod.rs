// SPDX-License-Identifier: MPL-2.0
//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use gst::prelude::*;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("gst init");
        gstpianola::plugin_register_static().expect("register pianola");
    });
}

/// A fresh temporary directory for one test.
pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pianola-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

/// Run a pipeline to EOS. Err carries the first error message (and its debug text).
pub fn run(pipeline: &gst::Pipeline, timeout: Duration) -> Result<(), String> {
    if pipeline.set_state(gst::State::Playing).is_err() {
        let err = first_error(pipeline).unwrap_or_else(|| "state change failed".into());
        let _ = pipeline.set_state(gst::State::Null);
        return Err(err);
    }
    let bus = pipeline.bus().expect("bus");
    let res = loop {
        let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        ) else {
            break Err("timed out".to_string());
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => {
                break Err(format!("{} ({:?})", e.error(), e.debug()));
            }
            _ => {}
        }
    };
    pipeline.set_state(gst::State::Null).expect("to null");
    res
}

fn first_error(pipeline: &gst::Pipeline) -> Option<String> {
    let bus = pipeline.bus()?;
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some(format!("{} ({:?})", e.error(), e.debug()));
        }
    }
    None
}

pub fn parse(desc: &str) -> gst::Pipeline {
    gst::parse::launch(desc)
        .unwrap_or_else(|e| panic!("parse {desc}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("a pipeline")
}

/// Run `desc` (which must contain `appsink name=out`) and collect every buffer with the
/// negotiated caps.
pub fn collect(desc: &str) -> Result<(Vec<gst::Buffer>, Option<gst::Caps>), String> {
    collect_with(parse(desc))
}

pub fn collect_with(
    pipeline: gst::Pipeline,
) -> Result<(Vec<gst::Buffer>, Option<gst::Caps>), String> {
    let sink = pipeline
        .by_name("out")
        .expect("appsink named out")
        .downcast::<gst_app::AppSink>()
        .expect("appsink");
    sink.set_property("sync", false);
    let bufs = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), None)));
    let b2 = bufs.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let mut g = b2.lock().unwrap();
                if let Some(b) = sample.buffer_owned() {
                    g.0.push(b);
                }
                if g.1.is_none() {
                    g.1 = sample.caps_owned();
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    run(&pipeline, Duration::from_secs(60))?;
    let g = bufs.lock().unwrap();
    Ok((g.0.clone(), g.1.clone()))
}

/// Interleaved stereo f32 samples of audio buffers.
pub fn samples(bufs: &[gst::Buffer]) -> Vec<f32> {
    let mut out = Vec::new();
    for b in bufs {
        let m = b.map_readable().unwrap();
        out.extend(
            m.as_slice()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
    }
    out
}

pub fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

/// An appsrc-fed pipeline: `appsrc name=src ! <rest>`; pushes the buffers then EOS.
pub fn with_appsrc(rest: &str, caps: &gst::Caps, buffers: Vec<gst::Buffer>) -> gst::Pipeline {
    let p = parse(&format!("appsrc name=src format=time ! {rest}"));
    let src = p
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    src.set_caps(Some(caps));
    src.set_property("max-buffers", 0u64);
    src.set_property("max-bytes", 0u64);
    for b in buffers {
        src.push_buffer(b).unwrap();
    }
    src.end_of_stream().unwrap();
    p
}

pub fn timed(data: Vec<u8>, pts: gst::ClockTime, dur: Option<gst::ClockTime>) -> gst::Buffer {
    let mut b = gst::Buffer::from_mut_slice(data);
    {
        let b = b.get_mut().unwrap();
        b.set_pts(pts);
        b.set_duration(dur);
    }
    b
}

/// A short performance for the video tests: `dir/in.mid` (a bar of Bach's Prelude in C at
/// 60 ms a note) and its pianosim render `dir/in.mp4` (640x360, 25 fps, H.264 in MP4), with
/// a sine tone as the video's own audio when `with_audio`. Returns (midi, video).
pub fn short_performance(dir: &std::path::Path, with_audio: bool) -> (PathBuf, PathBuf) {
    performance(dir, with_audio, 1, 60)
}

/// As [`short_performance`], `bars` bars at `note_ms` a note.
pub fn performance(
    dir: &std::path::Path,
    with_audio: bool,
    bars: usize,
    note_ms: u64,
) -> (PathBuf, PathBuf) {
    use gstpianola::core::midi::notes_to_smf;
    use gstpianola::core::music::bach_prelude_c;
    use gstpianola::core::notes::MSECOND;
    let midi = dir.join("in.mid");
    std::fs::write(
        &midi,
        notes_to_smf(&bach_prelude_c(bars, note_ms * MSECOND), Some(0)).expect("smf"),
    )
    .expect("write midi");
    let video = dir.join("in.mp4");
    let audio = if with_audio {
        "audiotestsrc num-buffers=150 ! audioconvert ! avenc_aac ! mux. "
    } else {
        ""
    };
    run(
        &parse(&format!(
            "pianosim location={} seed=5 width=640 height=360 framerate=25/1 tail=300 ! videoconvert ! x264enc speed-preset=ultrafast ! mux. \
             {audio}mp4mux name=mux ! filesink location={}",
            midi.display(),
            video.display()
        )),
        Duration::from_secs(120),
    )
    .expect("render the short performance");
    (midi, video)
}

/// Run the `pianola` command: `fixed` then `args`, without the variables `unset`: (success,
/// stdout, stderr).
pub fn pianola(
    fixed: &[&str],
    args: &[&std::ffi::OsStr],
    unset: &[&str],
) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pianola"));
    cmd.args(fixed).args(args);
    for v in unset {
        cmd.env_remove(v);
    }
    let out = cmd.output().expect("run pianola");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
