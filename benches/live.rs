// SPDX-License-Identifier: MPL-2.0
//! Live keep-up on this machine: the documented live shape fed by a live source at 25
//! frames/s, played against the clock, per roll2midi mode.
//!
//! No camera here, so the stand-in is a live `videotestsrc` composited with a pianosim render
//! of 30 s of procedural music (960x540, a keyboard in a room, hands):
//!
//!     videotestsrc is-live=true ! compositor ! queue leaky=downstream max-size-buffers=2
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

fn count_buffers(pad: &gst::Pad) -> Arc<AtomicU64> {
    let n = Arc::new(AtomicU64::new(0));
    let n2 = n.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        n2.fetch_add(1, Ordering::Relaxed);
        gst::PadProbeReturn::Ok
    });
    n
}

fn run(mode: &str, midi: &std::path::Path) {
    let frames = SECONDS * 25;
    let p = common::launch(&format!(
        "videotestsrc is-live=true pattern=black num-buffers={frames} ! video/x-raw,width=960,height=540,framerate=25/1 ! c.sink_0 \
         pianosim location={} seed=9 width=960 height=540 framerate=25/1 tail=0 ! videoconvert ! video/x-raw,format=AYUV ! c.sink_1 \
         compositor name=c ! video/x-raw,width=960,height=540,framerate=25/1 \
         ! queue name=leak max-size-buffers=2 max-size-bytes=0 max-size-time=0 leaky=downstream ! videoconvert \
         ! pianocrop ! video2roll batch-size=1 ! roll2midi mode={mode} ! midisynth ! audioconvert ! audioresample \
         ! fakesink name=sink sync=true qos=true max-lateness=1000000",
        midi.display()
    ));
    let leak = p.by_name("leak").expect("queue");
    let into = count_buffers(&leak.static_pad("sink").expect("pad"));
    let out = count_buffers(&leak.static_pad("src").expect("pad"));
    let bus = p.bus().expect("bus");
    p.set_state(gst::State::Playing).expect("play");
    let mut late = Vec::new();
    let mut latency = None;
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
            gst::MessageView::AsyncDone(_) => {
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
    for mode in ["rule-based", "learned"] {
        run(mode, &midi);
    }
    let _ = std::fs::remove_file(&midi);
}
