// SPDX-License-Identifier: MPL-2.0
//! `pianola redub`, run as a user runs it: every output, the video stream copied bit for bit,
//! the original audio kept or replaced, and clear errors for bad input.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use gst::prelude::*;
use gstpianola::core::midi::smf_to_notes;

/// Run `pianola redub <args>`: (success, stdout, stderr).
fn redub(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    pianola(&["redub", "--device", "cpu"], args, &[])
}

macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($a)),*] };
}

/// A short pianosim performance as H.264 in MP4, with a sine tone as its own audio.
fn clip(dir: &Path) -> PathBuf {
    short_performance(dir, true).1
}

/// The encoded buffers of the first stream of one kind ("video" or "audio") of an MP4 file,
/// and that stream's media type.
fn demuxed(file: &Path, kind: &str) -> (Vec<Vec<u8>>, String) {
    let (bufs, caps) = collect(&format!(
        "filesrc location={} ! qtdemux name=d d.{kind}_0 ! appsink name=out",
        file.display()
    ))
    .unwrap();
    let media = caps
        .and_then(|c| c.structure(0).map(|s| s.name().to_string()))
        .unwrap_or_default();
    let data = bufs
        .iter()
        .map(|b| b.map_readable().unwrap().to_vec())
        .collect();
    (data, media)
}

#[test]
fn redub_writes_every_output_and_copies_the_video() {
    init();
    let dir = tmpdir("redub");
    let input = clip(&dir);
    let (ok, stdout, stderr) = redub(args![
        &input,
        "-o",
        &dir.join("out.mp4"),
        "-o",
        &dir.join("out.wav"),
        "--midi",
        &dir.join("out.mid"),
        "--roll-png",
        &dir.join("out.png")
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("video stream copied"), "{stdout}");
    assert_eq!(stdout.matches("wrote ").count(), 4, "{stdout}");
    // "N frames, M notes"
    let field = |name: &str| -> u64 {
        stdout
            .split([',', '\n'])
            .find_map(|p| {
                p.trim()
                    .strip_suffix(name)
                    .and_then(|n| n.trim().parse().ok())
            })
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
    };
    let (frames, n_notes) = (field("frames"), field("notes"));
    // The video stream is the input's, buffer for buffer.
    let (vin, media) = demuxed(&input, "video");
    let (vout, media_out) = demuxed(&dir.join("out.mp4"), "video");
    assert_eq!(
        (media.as_str(), media_out.as_str()),
        ("video/x-h264", "video/x-h264")
    );
    assert!(!vin.is_empty());
    assert_eq!(vin.len(), vout.len());
    // Coded pictures identical; the parser may put the parameter sets in front of the
    // first one, which changes no picture.
    assert!(vin[1..] == vout[1..], "the video was encoded again");
    let key = &vin[0][vin[0].len().saturating_sub(4096)..];
    assert!(vout[0].ends_with(key));
    assert_eq!(frames, vin.len() as u64);
    // One audio track, the generated one (AAC): the input's tone is replaced.
    let (aout, amedia) = demuxed(&dir.join("out.mp4"), "audio");
    assert!(!aout.is_empty());
    assert_eq!(amedia, "audio/mpeg");
    let (ain, _) = demuxed(&input, "audio");
    assert!(aout != ain, "the input's audio was kept");
    // The WAV has sound, about as long as the video (plus the release tail).
    let wav = hound::WavReader::open(dir.join("out.wav")).unwrap();
    let spec = wav.spec();
    let secs = wav.duration() as f64 / spec.sample_rate as f64;
    let video_secs = vin.len() as f64 / 25.0;
    assert!(
        secs >= video_secs - 0.1 && secs < video_secs + 3.0,
        "{secs} s of audio for {video_secs} s of video"
    );
    let loud = wav
        .into_samples::<i16>()
        .filter_map(|s| s.ok())
        .any(|s| s.unsigned_abs() > 1000);
    assert!(loud);
    // The MIDI has the notes counted; the picture is a PNG.
    let notes = smf_to_notes(&std::fs::read(dir.join("out.mid")).unwrap()).unwrap();
    assert_eq!(notes.len() as u64, n_notes);
    assert!(!notes.is_empty());
    assert!(
        std::fs::read(dir.join("out.png"))
            .unwrap()
            .starts_with(b"\x89PNG")
    );

    // Keeping the original audio gives two audio tracks; Matroska takes the copy too.
    let (ok, stdout, stderr) = redub(args![&input, "-o", &dir.join("both.mkv"), "--keep-audio"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("video stream copied"), "{stdout}");
    let tracks = count_streams(&dir.join("both.mkv"));
    assert_eq!(tracks, (1, 2));
}

/// (video, audio) stream counts of a file.
fn count_streams(file: &Path) -> (usize, usize) {
    let pipeline = parse(&format!(
        "filesrc location={} ! parsebin name=p",
        file.display()
    ));
    let p = pipeline.by_name("p").unwrap();
    let counts = std::sync::Arc::new(std::sync::Mutex::new((0, 0)));
    let (c2, p2) = (counts.clone(), pipeline.downgrade());
    p.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap();
        let name = caps.structure(0).unwrap().name().to_string();
        let mut c = c2.lock().unwrap();
        if name.starts_with("video/") {
            c.0 += 1;
        } else if name.starts_with("audio/") {
            c.1 += 1;
        }
        let pipeline = p2.upgrade().unwrap();
        // One streaming thread feeds every pad: no sink may wait for preroll.
        let sink = gst::ElementFactory::make("fakesink")
            .property("async", false)
            .build()
            .unwrap();
        pipeline.add(&sink).unwrap();
        sink.sync_state_with_parent().unwrap();
        pad.link(&sink.static_pad("sink").unwrap()).unwrap();
    });
    run(&pipeline, std::time::Duration::from_secs(60)).unwrap();
    *counts.lock().unwrap()
}

#[test]
fn bad_input_gets_a_clear_error() {
    init();
    let dir = tmpdir("redub-errors");
    // No such file.
    let (ok, _, e) = redub(args![&dir.join("missing.mp4"), "-o", &dir.join("x.wav")]);
    assert!(!ok && e.contains("not a readable file"), "{e}");
    // Nothing asked for.
    let (ok, _, e) = redub(args![&dir.join("missing.mp4")]);
    assert!(
        !ok && (e.contains("not a readable file") || e.contains("nothing to write")),
        "{e}"
    );
    // A short video without a piano: the error says what to set.
    let video = dir.join("noise.mp4");
    run(
        &parse(&format!(
            "videotestsrc pattern=ball num-buffers=40 ! video/x-raw,width=320,height=240,framerate=25/1 ! x264enc speed-preset=ultrafast ! mp4mux ! filesink location={}",
            video.display()
        )),
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let (ok, _, e) = redub(args![&video, "-o", &dir.join("x.mp4")]);
    assert!(!ok && e.contains("No piano keyboard found"), "{e}");
    assert!(e.contains("--keyboard") || e.contains("corners"), "{e}");
    // An unknown container.
    let (ok, _, e) = redub(args![&video, "-o", &dir.join("x.avi")]);
    assert!(!ok && e.contains(".mp4"), "{e}");
    // Audio only: no video stream to transcribe, said so.
    let audio = dir.join("tone.m4a");
    run(
        &parse(&format!(
            "audiotestsrc num-buffers=40 ! audioconvert ! avenc_aac ! mp4mux ! filesink location={}",
            audio.display()
        )),
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let (ok, _, e) = redub(args![&audio, "-o", &dir.join("y.wav")]);
    assert!(!ok && e.contains("has no video stream"), "{e}");
    assert!(!dir.join("y.wav").exists());
    // Too small to hold a keyboard: the minimum size is named.
    let tiny = dir.join("tiny.mkv");
    run(
        &parse(&format!(
            "videotestsrc num-buffers=10 ! video/x-raw,width=48,height=32,framerate=25/1 ! x264enc speed-preset=ultrafast ! matroskamux ! filesink location={}",
            tiny.display()
        )),
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let (ok, _, e) = redub(args![&tiny, "-o", &dir.join("z.wav")]);
    assert!(!ok && e.contains("at least 64x16"), "{e}");
    // A video2roll setting that is not one: named, and nothing written.
    for (props, said) in [
        ("workerz=2", "video2roll has no property workerz"),
        ("workers", "write name=value"),
    ] {
        let (ok, _, e) = redub(args![
            &video,
            "-o",
            &dir.join("w.wav"),
            "--video2roll",
            props
        ]);
        assert!(!ok && e.contains(said), "{props}: {e}");
        assert!(!dir.join("w.wav").exists());
    }
}

/// Both roll2midi modes with the shipped video2roll, and the rule-based mode with the faster
/// net shipped beside it (models/video2roll-half.safetensors).
#[test]
fn both_roll2midi_modes_transcribe_a_rendered_performance() {
    use gstpianola::core::metrics::onset_metrics;
    init();
    let dir = tmpdir("redub-modes");
    // 12 s of procedural music rendered with its true key states (what the video shows).
    let midi = dir.join("in.mid");
    let notes = gstpianola::core::music::procedural(4, 12.0);
    std::fs::write(
        &midi,
        gstpianola::core::midi::notes_to_smf(&notes, Some(0)).unwrap(),
    )
    .unwrap();
    let (input, truth) = (dir.join("in.mp4"), dir.join("truth.mid"));
    run(
        &parse(&format!(
            "pianosim name=s location={} seed=5 width=640 height=360 framerate=25/1 \
             s.video ! videoconvert ! x264enc speed-preset=ultrafast bframes=0 ! mp4mux ! filesink location={} \
             s.roll ! midienc ! filesink location={}",
            midi.display(),
            input.display(),
            truth.display()
        )),
        std::time::Duration::from_secs(120),
    )
    .unwrap();
    let reference = smf_to_notes(&std::fs::read(&truth).unwrap()).unwrap();
    assert!(reference.len() > 20, "{} notes", reference.len());
    for mode in ["rule-based", "learned"] {
        let out = dir.join(format!("{mode}.mid"));
        // The shipped models: video2roll's and, for learned, the refiner.
        let (ok, _, e) = redub(args![&input, "--midi", &out, "--mode", mode]);
        assert!(ok, "{e}");
        let est = smf_to_notes(&std::fs::read(&out).unwrap()).unwrap();
        let m = onset_metrics(&est, &reference, 0.1);
        println!("{mode}: {m}");
        assert!(m.f1 >= 0.9, "{mode}: {m}");
    }
    let half = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/video2roll-half.safetensors");
    let out = dir.join("half.mid");
    let (ok, _, e) = redub(args![&input, "--midi", &out, "--model", &half]);
    assert!(ok, "{e}");
    let est = smf_to_notes(&std::fs::read(&out).unwrap()).unwrap();
    let m = onset_metrics(&est, &reference, 0.1);
    println!("half net: {m}");
    assert!(m.f1 >= 0.9, "half net: {m}");
}
