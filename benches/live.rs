// SPDX-License-Identifier: MPL-2.0
//! Live keep-up on this machine: the documented live shape fed by a live source at 25
//! frames/s, played against the clock, per roll2midi mode.
//!
//! No camera here, so the stand-in is a live `appsrc` that plays back, against the
//! pipeline clock, frames of a pianosim render (30 s of procedural music, 960x540, a
//! keyboard in a room, hands) decoded into memory before the clock starts. Like a camera,
//! it costs the chain nothing while it runs:
//!
//!     appsrc is-live=true ! queue leaky=downstream max-size-buffers=2 ! videoconvert
//!       ! pianocrop ! video2roll batch-size=1 ! roll2midi mode=... ! midisynth
//!       ! audioconvert ! audioresample ! fakesink sync=true qos=true max-lateness=1 ms
//!
//! It prints the latency the pipeline configured, the audio buffers that reached the sink
//! more than 1 ms late (its QoS messages), and the frames the leaky queue dropped because
//! the chain behind it was busy. The target: none of either once the keyboard is locked.
//! Run it on an idle machine: anything else on the two cores makes frames late.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gst::prelude::*;

const SECONDS: u32 = 30;
const FPS: u64 = 25;

fn count_buffers(pad: &gst::Pad) -> Arc<AtomicU64> {
    let n = Arc::new(AtomicU64::new(0));
    let n2 = n.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        n2.fetch_add(1, Ordering::Relaxed);
        gst::PadProbeReturn::Ok
    });
    n
}

/// The pianosim render of `midi`, decoded to I420 frames in memory, with its caps.
fn render(midi: &std::path::Path) -> (gst::Caps, Vec<gst::Buffer>) {
    let (p, sink) = common::launch_with_appsink(
        &format!(
            "pianosim location={} seed=9 width=960 height=540 framerate=25/1 tail=0 \
             ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink sync=false",
            midi.display()
        ),
        "sink",
    );
    p.set_state(gst::State::Playing).expect("play");
    let mut frames = Vec::new();
    let mut caps = None;
    while let Ok(sample) = sink.pull_sample() {
        caps = caps.or_else(|| sample.caps_owned());
        frames.push(sample.buffer_owned().expect("buffer"));
    }
    p.set_state(gst::State::Null).expect("stop");
    (caps.expect("caps"), frames)
}

/// Push `frames` from a live appsrc, one every 40 ms of the pipeline clock, stamped with
/// its running time as a camera source would, then end the stream.
fn play_live(src: gst_app::AppSrc, frames: Vec<gst::Buffer>) {
    std::thread::spawn(move || {
        // A live source plays as soon as it is set to: the sinks wait for data to finish
        // their own change, so the pipeline is not PLAYING before the first push.
        let clock = loop {
            match src.clock() {
                Some(c) if src.current_state() == gst::State::Playing => break c,
                _ => std::thread::sleep(std::time::Duration::from_millis(1)),
            }
        };
        let base = src.base_time().unwrap_or(gst::ClockTime::ZERO);
        for (i, frame) in frames.into_iter().enumerate() {
            let pts = gst::ClockTime::SECOND
                .mul_div_floor(i as u64, FPS)
                .expect("pts");
            let _ = clock.new_single_shot_id(base + pts).wait();
            let mut frame = frame.copy();
            {
                let f = frame.make_mut();
                f.set_pts(pts);
                f.set_dts(gst::ClockTime::NONE);
                f.set_duration(gst::ClockTime::SECOND / FPS);
            }
            if src.push_buffer(frame).is_err() {
                return;
            }
        }
        let _ = src.end_of_stream();
    });
}

fn run(mode: &str, caps: &gst::Caps, frames: &[gst::Buffer]) {
    let (p, src) = common::launch_with_appsrc(
        &format!(
            "appsrc name=src is-live=true format=time \
             ! queue name=leak max-size-buffers=2 max-size-bytes=0 max-size-time=0 leaky=downstream ! videoconvert \
             ! pianocrop ! video2roll batch-size=1 ! roll2midi mode={mode} ! midisynth ! audioconvert ! audioresample \
             ! fakesink name=sink sync=true qos=true max-lateness=1000000"
        ),
        "src",
    );
    src.set_caps(Some(caps));
    let leak = p.by_name("leak").expect("queue");
    let into = count_buffers(&leak.static_pad("sink").expect("pad"));
    let out = count_buffers(&leak.static_pad("src").expect("pad"));
    let bus = p.bus().expect("bus");
    p.set_state(gst::State::Playing).expect("play");
    play_live(src, frames.to_vec());
    let mut late = Vec::new();
    let mut latency = None;
    let mut started = false;
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}: {:?}", e.error(), e.debug()),
            gst::MessageView::Qos(q) => {
                let (_, _, stream_time, _, _) = q.get();
                late.push(stream_time);
            }
            gst::MessageView::Latency(_) => {
                let _ = p.recalculate_latency();
            }
            gst::MessageView::StateChanged(s)
                if !started
                    && s.src() == Some(p.upcast_ref())
                    && s.current() == gst::State::Playing =>
            {
                started = true;
                let mut q = gst::query::Latency::new();
                if p.query(&mut q) {
                    latency = Some(q.result().1);
                }
            }
            _ => {}
        }
    }
    let mut q = gst::query::Latency::new();
    let final_latency = p.query(&mut q).then(|| q.result().1);
    p.set_state(gst::State::Null).expect("stop");
    let (into, out) = (into.load(Ordering::Relaxed), out.load(Ordering::Relaxed));
    let after_first_s = late
        .iter()
        .filter(|t| t.is_some_and(|t| t > gst::ClockTime::SECOND))
        .count();
    println!(
        "live 25 fps, {SECONDS} s, roll2midi mode={mode:<10}: latency {} at start, {} at the end; {} late audio buffers ({} after the first second); {} of {into} frames dropped by the leaky queue",
        latency.display(),
        final_latency.display(),
        late.len(),
        after_first_s,
        into.saturating_sub(out),
    );
}

fn main() {
    gst::init().expect("gst");
    gstpianola::plugin_register_static().expect("register");
    use gstpianola::core::midi::notes_to_smf;
    use gstpianola::core::music::procedural;
    let midi = std::env::temp_dir().join(format!("pianola-live-{}.mid", std::process::id()));
    std::fs::write(
        &midi,
        notes_to_smf(&procedural(5, SECONDS as f64), Some(0)).expect("smf"),
    )
    .expect("write midi");
    let (caps, frames) = render(&midi);
    let _ = std::fs::remove_file(&midi);
    for mode in ["rule-based", "learned"] {
        run(mode, &caps, &frames);
    }
}
