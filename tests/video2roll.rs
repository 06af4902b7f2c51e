// SPDX-License-Identifier: MPL-2.0
//! video2roll: windowing, timestamps, latency, flush and EOS, errors. The net here is freshly
//! initialised (its outputs mean nothing): these tests are about the element, not accuracy.

mod common;

use common::*;
use gst::prelude::*;
use gstpianola::caps;
use gstpianola::core::roll::{ProbFrame, RollLayout, ValueFormat};
use gstpianola::model::{Arch, Model, ModelMeta};

fn untrained_model(name: &str) -> std::path::PathBuf {
    untrained(name, Arch::KeyNet)
}

fn untrained(name: &str, arch: Arch) -> std::path::PathBuf {
    let dir = tmpdir(name);
    let path = dir.join("net.safetensors");
    tch::manual_seed(0);
    Model::new(ModelMeta::new(arch), tch::Device::Cpu)
        .save(&path)
        .unwrap();
    path
}

/// A harness around a video2roll with `model` set before it starts, and no processing
/// margin, so that its latency is the frames it holds back.
fn harness(model: &std::path::Path, batch: u32) -> gst_check::Harness {
    harness_with_margin(model, batch, 0)
}

fn harness_with_margin(model: &std::path::Path, batch: u32, margin_ns: i64) -> gst_check::Harness {
    let e = gst::ElementFactory::make("video2roll")
        .property("model", model.to_str().unwrap())
        .property("batch-size", batch)
        .property("processing-margin", margin_ns)
        .build()
        .unwrap();
    gst_check::Harness::with_element(&e, Some("sink"), Some("src"))
}

/// The latency answer leaves room for the work: a set margin is added as it is, a measured
/// one grows to cover the slowest forward pass (here the Audeo net, slower than a frame)
/// and the element asks the pipeline to re-configure its latency when it does.
#[test]
fn latency_includes_the_processing_margin() {
    init();
    let model = untrained_model("v2r-margin");
    let mut h = harness_with_margin(&model, 1, 5_000_000);
    h.set_src_caps(strip_caps());
    for i in 0..6 {
        h.push(frame(i)).unwrap();
    }
    assert_eq!(h.query_latency(), Some(gst::ClockTime::from_mseconds(85)));

    let dir = tmpdir("v2r-margin-audeo");
    let slow = dir.join("audeo.safetensors");
    tch::manual_seed(0);
    Model::new(ModelMeta::new(Arch::Audeo), tch::Device::Cpu)
        .save(&slow)
        .unwrap();
    let mut h = harness_with_margin(&slow, 1, -1);
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps(strip_caps());
    // Before any pass: a frame's time as the first guess.
    assert_eq!(
        h.query_latency(),
        Some(gst::ClockTime::from_mseconds(80 + 40))
    );
    while bus.pop_filtered(&[gst::MessageType::Latency]).is_some() {}
    let mut slowest = std::time::Duration::ZERO;
    for i in 0..8 {
        let t0 = std::time::Instant::now();
        h.push(frame(i)).unwrap();
        if i >= 5 {
            slowest = slowest.max(t0.elapsed());
        }
    }
    let latency = h.query_latency().unwrap();
    assert!(
        slowest > std::time::Duration::from_millis(40),
        "the Audeo pass should be slower than a 25 fps frame: {slowest:?}"
    );
    assert!(
        latency
            >= gst::ClockTime::from_mseconds(80)
                + gst::ClockTime::from_nseconds(slowest.as_nanos() as u64),
        "latency {latency} does not cover a {slowest:?} pass"
    );
    assert!(bus.pop_filtered(&[gst::MessageType::Latency]).is_some());
}

fn strip_caps() -> gst::Caps {
    gst_video::VideoCapsBuilder::new()
        .format(gst_video::VideoFormat::Gray8)
        .width(900)
        .height(100)
        .framerate(gst::Fraction::new(25, 1))
        .build()
}

fn frame(i: u64) -> gst::Buffer {
    let px: Vec<u8> = (0..900 * 100)
        .map(|k| ((k as u64 * 7 + i * 13) % 251) as u8)
        .collect();
    timed(
        px,
        gst::ClockTime::from_mseconds(40 * i),
        Some(gst::ClockTime::from_mseconds(40)),
    )
}

#[test]
fn one_roll_frame_per_video_frame_with_two_frames_of_latency() {
    init();
    let model = untrained_model("v2r-latency");
    let mut h = harness(&model, 1);
    h.set_src_caps(strip_caps());
    for i in 0..6 {
        h.push(frame(i)).unwrap();
    }
    // Frame t needs t+2: after 6 frames, 4 are out.
    assert_eq!(h.buffers_in_queue(), 4);
    assert_eq!(h.query_latency(), Some(gst::ClockTime::from_mseconds(80)));
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    let (layout, rate) = caps::parse_roll_caps(&caps).unwrap();
    assert_eq!(layout, RollLayout::piano88(ValueFormat::F32, true));
    assert_eq!(rate, gst::Fraction::new(25, 1));
    assert!(h.push_event(gst::event::Eos::new()));
    assert_eq!(h.buffers_in_queue(), 6);
    for i in 0..6u64 {
        let b = h.pull().unwrap();
        assert_eq!(b.pts(), Some(gst::ClockTime::from_mseconds(40 * i)));
        assert_eq!(b.duration(), Some(gst::ClockTime::from_mseconds(40)));
        let f = ProbFrame::from_bytes(&layout, b.map_readable().unwrap().as_slice()).unwrap();
        assert!(
            f.frame
                .iter()
                .chain(f.onset.as_ref().unwrap())
                .all(|p| (0.0..=1.0).contains(p))
        );
    }
}

/// At 50 frames/s the window takes every second frame (window-rate 25, the default), so it
/// spans the time the net was trained on: a 25 frames/s video with every frame shown twice
/// gives, on its first showings, exactly the 25 frames/s video's output, with the same 80
/// ms of latency. `window-rate=0` takes every frame (2 frames, 40 ms).
#[test]
fn a_faster_video_is_windowed_at_the_trained_rate() {
    init();
    let model = untrained_model("v2r-rate");
    let caps = |fps: i32| {
        gst_video::VideoCapsBuilder::new()
            .format(gst_video::VideoFormat::Gray8)
            .width(900)
            .height(100)
            .framerate(gst::Fraction::new(fps, 1))
            .build()
    };
    let run = |fps: i32, window_rate: f64| -> (Vec<Vec<u8>>, Option<gst::ClockTime>, usize) {
        let e = gst::ElementFactory::make("video2roll")
            .property("model", model.to_str().unwrap())
            .property("processing-margin", 0i64)
            .property("window-rate", window_rate)
            .build()
            .unwrap();
        let mut h = gst_check::Harness::with_element(&e, Some("sink"), Some("src"));
        h.set_src_caps(caps(fps));
        let repeat = (fps / 25) as u64;
        let ms = 1000 / fps as u64;
        let n = 8 * repeat;
        for j in 0..n {
            let mut b = frame(j / repeat);
            let b_mut = b.make_mut();
            b_mut.set_pts(gst::ClockTime::from_mseconds(ms * j));
            b_mut.set_duration(gst::ClockTime::from_mseconds(ms));
            h.push(b).unwrap();
        }
        let latency = h.query_latency();
        assert!(h.push_event(gst::event::Eos::new()));
        let out = (0..n)
            .map(|_| h.pull().unwrap().map_readable().unwrap().to_vec())
            .collect();
        let step = caps::roll_window_step(&h.sinkpad().unwrap().current_caps().unwrap());
        (out, latency, step)
    };
    let (at25, l25, step25) = run(25, 25.0);
    let (at50, l50, step50) = run(50, 25.0);
    assert_eq!(l25, Some(gst::ClockTime::from_mseconds(80)));
    assert_eq!(l50, Some(gst::ClockTime::from_mseconds(80)));
    // The roll says how many frames apart the window's images are (roll2midi aligns note
    // starts with it).
    assert_eq!((step25, step50), (1, 2));
    for (i, want) in at25.iter().enumerate() {
        assert!(at50[2 * i] == *want, "frame {i} differs");
    }
    let (every, l_every, step_every) = run(50, 0.0);
    assert_eq!(l_every, Some(gst::ClockTime::from_mseconds(40)));
    assert_eq!(step_every, 1);
    assert!(
        (1..7).any(|i| every[2 * i] != at25[i]),
        "every frame gave the strided output"
    );
}

#[test]
fn same_input_same_output_and_batching_changes_nothing_but_latency() {
    init();
    let model = untrained_model("v2r-batch");
    let run_with = |batch: u32| -> Vec<Vec<u8>> {
        let mut h = harness(&model, batch);
        h.set_src_caps(strip_caps());
        for i in 0..7 {
            h.push(frame(i)).unwrap();
        }
        if batch == 4 {
            assert_eq!(
                h.query_latency(),
                Some(gst::ClockTime::from_mseconds(40 * 5))
            );
        }
        assert!(h.push_event(gst::event::Eos::new()));
        (0..7)
            .map(|_| h.pull().unwrap().map_readable().unwrap().to_vec())
            .collect()
    };
    let a = run_with(1);
    let b = run_with(4);
    for (x, y) in a.iter().zip(&b) {
        let fx: Vec<f32> = x
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let fy: Vec<f32> = y
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert!(fx.iter().zip(&fy).all(|(p, q)| (p - q).abs() < 1e-4));
    }
}

/// Frames shared out among forward passes side by side (`workers`) give the rolls of one
/// pass at a time, in order, with the latency of the batch alone.
#[test]
fn workers_side_by_side_give_the_one_pass_rolls() {
    init();
    let model = untrained("v2r-workers", Arch::KeyColumnRest);
    let run_with = |batch: u32, workers: u32| -> Vec<Vec<f32>> {
        let e = gst::ElementFactory::make("video2roll")
            .property("model", model.to_str().unwrap())
            .property("batch-size", batch)
            .property("workers", workers)
            .property("processing-margin", 0i64)
            .build()
            .unwrap();
        let mut h = gst_check::Harness::with_element(&e, Some("sink"), Some("src"));
        h.set_src_caps(strip_caps());
        for i in 0..9 {
            h.push(frame(i)).unwrap();
        }
        assert_eq!(
            h.query_latency(),
            Some(gst::ClockTime::from_mseconds(40 * (2 + batch as u64 - 1)))
        );
        assert!(h.push_event(gst::event::Eos::new()));
        (0..9)
            .map(|_| {
                h.pull()
                    .unwrap()
                    .map_readable()
                    .unwrap()
                    .chunks(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            })
            .collect()
    };
    let one = run_with(1, 1);
    assert!(
        one[0] != one[8],
        "the frames differ, so their order is checked"
    );
    for (batch, workers) in [(2, 2), (4, 3)] {
        let many = run_with(batch, workers);
        for (i, (x, y)) in one.iter().zip(&many).enumerate() {
            assert!(
                x.iter().zip(y).all(|(p, q)| (p - q).abs() < 1e-4),
                "frame {i} differs with {workers} workers"
            );
        }
    }
}

#[test]
fn flush_drops_pending_frames() {
    init();
    let model = untrained_model("v2r-flush");
    let mut h = harness(&model, 1);
    h.set_src_caps(strip_caps());
    for i in 0..3 {
        h.push(frame(i)).unwrap();
    }
    assert_eq!(h.buffers_in_queue(), 1);
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    let _ = h.try_pull();
    assert!(
        h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()))
    );
    h.push(frame(10)).unwrap();
    assert!(h.push_event(gst::event::Eos::new()));
    let b = h.pull().unwrap();
    assert_eq!(b.pts(), Some(gst::ClockTime::from_mseconds(400)));
    assert!(h.try_pull().is_none());
}

#[test]
fn missing_or_bad_model_is_a_clear_error() {
    init();
    let err = run(
        &parse("videotestsrc num-buffers=2 ! video/x-raw,format=GRAY8,width=900,height=100 ! video2roll model=/nonexistent/net.safetensors ! fakesink"),
        std::time::Duration::from_secs(10),
    )
    .unwrap_err();
    assert!(
        err.contains("/nonexistent/net.safetensors") && err.contains("pianola train"),
        "{err}"
    );
    let dir = tmpdir("v2r-bad");
    let bad = dir.join("bad.safetensors");
    std::fs::write(&bad, b"not weights").unwrap();
    std::fs::write(dir.join("bad.json"), b"{\"format\": \"something else\"}").unwrap();
    let err = run(
        &parse(&format!(
            "videotestsrc num-buffers=2 ! video/x-raw,format=GRAY8,width=900,height=100 ! video2roll model={} ! fakesink",
            bad.display()
        )),
        std::time::Duration::from_secs(10),
    )
    .unwrap_err();
    assert!(err.contains("bad.json") && err.contains("format"), "{err}");
    // KeyNet weights whose sidecar says KeyColumn: one line naming both, no libtorch stack.
    let keynet = dir.join("keynet.safetensors");
    tch::manual_seed(0);
    Model::new(ModelMeta::new(Arch::KeyNet), tch::Device::Cpu)
        .save(&keynet)
        .unwrap();
    let side = std::fs::read_to_string(dir.join("keynet.json")).unwrap();
    std::fs::write(
        dir.join("keynet.json"),
        side.replace("\"keynet\"", "\"keycolumn\""),
    )
    .unwrap();
    let Err(err) = Model::load(&keynet, gstpianola::model::DeviceChoice::Cpu) else {
        panic!("wrong-shape weights loaded");
    };
    let err = err.to_string();
    assert!(err.contains("do not match a keycolumn net"), "{err}");
    assert!(!err.contains('\n') && err.len() < 500, "{err}");
}

/// The forward pass runs without the element's state lock: a latency query made while a
/// slow batch (the Audeo net, 16 windows) is being predicted answers at once, not after it.
#[test]
fn latency_answers_while_a_batch_is_predicted() {
    init();
    let dir = tmpdir("v2r-busy");
    let model = dir.join("audeo.safetensors");
    tch::manual_seed(0);
    Model::new(ModelMeta::new(Arch::Audeo), tch::Device::Cpu)
        .save(&model)
        .unwrap();
    let mut h = harness(&model, 16);
    h.set_src_caps(strip_caps());
    h.play();
    let element = h.element().unwrap();
    let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (b2, e2) = (busy.clone(), element.clone());
    let asker = std::thread::spawn(move || {
        while !b2.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // The 18th frame completes the 16th window: the batch is now being predicted.
        std::thread::sleep(std::time::Duration::from_millis(150));
        let t0 = std::time::Instant::now();
        let mut q = gst::query::Latency::new();
        let answered = e2.static_pad("src").unwrap().query(&mut q);
        (answered, t0.elapsed(), q.result().1)
    });
    for i in 0..17 {
        h.push(frame(i)).unwrap();
    }
    busy.store(true, std::sync::atomic::Ordering::SeqCst);
    let t0 = std::time::Instant::now();
    h.push(frame(17)).unwrap();
    let predicting = t0.elapsed();
    let (answered, waited, min) = asker.join().unwrap();
    assert!(answered);
    // HALF (2) + batch - 1 (15) frames of 40 ms.
    assert_eq!(min, gst::ClockTime::from_mseconds(40 * 17));
    assert!(
        predicting > std::time::Duration::from_millis(400),
        "a fast batch proves nothing: {predicting:?}"
    );
    assert!(
        waited < predicting / 4,
        "the query waited {waited:?} for a {predicting:?} batch"
    );
}

/// The probabilities of `frames` pushed in order, with pianocrop's strip-jump event before
/// frame `jump` when given; also how many roll frames were out when the event went by.
fn probs_with_jump(
    model: &std::path::Path,
    frames: std::ops::Range<u64>,
    jump: Option<u64>,
) -> (Vec<Vec<f32>>, Option<u32>) {
    let mut h = harness(model, 1);
    h.set_src_caps(strip_caps());
    let mut out_at_jump = None;
    for i in frames {
        if jump == Some(i) {
            assert!(h.push_event(caps::keyboard_moved_event()));
            out_at_jump = Some(h.buffers_in_queue());
            let mut seen = false;
            while let Some(e) = h.try_pull_event() {
                seen |= caps::is_keyboard_moved(&e);
            }
            assert!(seen, "the event is passed on");
        }
        h.push(frame(i)).unwrap();
    }
    assert!(h.push_event(gst::event::Eos::new()));
    let layout = RollLayout::piano88(ValueFormat::F32, true);
    let mut probs = Vec::new();
    while let Some(b) = h.try_pull() {
        let f = ProbFrame::from_bytes(&layout, b.map_readable().unwrap().as_slice()).unwrap();
        probs.push(f.frame);
    }
    (probs, out_at_jump)
}

/// A keyboard re-lock makes the strip jump: the frames before it are finished with their
/// own edges (all out before the event), and those after it are predicted as if the stream
/// began there, never from windows that mix both locks.
#[test]
fn a_strip_jump_splits_the_windows() {
    init();
    // keycolumn-rest also starts its estimate of the keyboard at rest again there.
    for arch in [Arch::KeyNet, Arch::KeyColumnRest] {
        let model = untrained(&format!("v2r-jump-{}", arch.name()), arch);
        let (all, out_at_jump) = probs_with_jump(&model, 0..10, Some(6));
        assert_eq!(out_at_jump, Some(6), "frames 0-5 are out before the event");
        assert_eq!(all.len(), 10);
        let (before, _) = probs_with_jump(&model, 0..6, None);
        let (after, _) = probs_with_jump(&model, 6..10, None);
        assert_eq!(all[..6], before[..], "{arch:?}");
        assert_eq!(all[6..], after[..], "{arch:?}");
    }
}
