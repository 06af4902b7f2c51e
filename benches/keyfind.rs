// SPDX-License-Identifier: MPL-2.0
//! keyfind on the full pianosim set (seeds 20_000..20_060, never used for tuning), rectifier
//! throughput and the time of one detection at 1920x1080 (one thread).
//!
//! The scoring duplicates tests/keyfind.rs (benches cannot import tests): keep them alike.

mod common;

use std::hint::black_box;
use std::time::Instant;

use gst::prelude::*;
use gstpianola::core::keyfind::{
    DetectParams, GrayImage, Rectifier, angle_of, detect, detect_any, luma_rgba,
};
use gstpianola::core::music::procedural;
use gstpianola::core::sim::{SimConfig, Simulator};

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// A clip's frame min(25, n - 1) as luma, and its simulator (for the truth).
fn clip(config: SimConfig) -> (Simulator, Vec<u8>) {
    let mut sim = Simulator::new(&procedural(config.seed, 4.0), &config).expect("simulator");
    let gray = luma_rgba(sim.render(25.min(sim.n_frames() - 1)));
    (sim, gray)
}

fn image<'a>(sim: &Simulator, gray: &'a [u8]) -> GrayImage<'a> {
    let (w, h) = (sim.width() as usize, sim.height() as usize);
    GrayImage {
        data: gray,
        width: w,
        height: h,
        stride: w,
    }
}

/// Same scoring as tests/keyfind.rs: per clip, mean corner error / true top-edge length.
fn report(seeds: std::ops::Range<u64>) {
    let n = (seeds.end - seeds.start) as usize;
    let (mut found, mut right, mut err_sum) = (0, 0, 0.0);
    let head = ("seed", "size", "truth", "found", "rel.err", "conf");
    println!(
        "{:>5} {:>9}  {:<6}  {:<6} {:>9} {:>6}",
        head.0, head.1, head.2, head.3, head.4, head.5
    );
    for seed in seeds {
        let (sim, gray) = clip(SimConfig {
            seed,
            ..Default::default()
        });
        let kb = sim.keyboard();
        let size = format!("{}x{}", sim.width(), sim.height());
        print!("{seed:>5} {size:>9}  {:>2}@{:<3}", kb.keys, kb.lowest_note);
        let Some(d) = detect(&image(&sim, &gray), &DetectParams::default()) else {
            println!("  not found");
            continue;
        };
        let t = sim.corners().map(|p| [p[0] as f64, p[1] as f64]);
        let e = (0..4).map(|i| dist(d.corners[i], t[i])).sum::<f64>() / 4.0 / dist(t[0], t[1]);
        let ok = d.keyboard == kb;
        found += 1;
        right += ok as usize;
        err_sum += e;
        let (k, l) = (d.keyboard.keys, d.keyboard.lowest_note);
        let mark = if ok { "" } else { "  <- wrong keys" };
        println!("  {k:>2}@{l:<3} {e:>9.5} {:>6.2}{mark}", d.confidence);
    }
    println!(
        "{n} clips: found {:.1}%, keys+lowest note right {:.1}%, mean corner error {:.5} of the keyboard width (over found clips)",
        100.0 * found as f64 / n as f64,
        100.0 * right as f64 / n as f64,
        err_sum / found as f64
    );
}

/// The pianocrop element on 1080p I420 frames, locked after the first few: frames/s through
/// `appsrc ! pianocrop ! fakesink` (one streaming thread; detection re-runs every 15 frames).
fn element_throughput(gray: &[u8]) {
    gst::init().expect("gst");
    gstpianola::plugin_register_static().expect("plugin");
    let (w, h) = (1920usize, 1080usize);
    let mut i420 = gray.to_vec();
    i420.resize(w * h * 3 / 2, 128);
    let frame = gst::Buffer::from_mut_slice(i420);
    let n = 900u64;
    let p = gst::parse::launch("appsrc name=src format=time ! pianocrop ! fakesink")
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let src = p
        .by_name("src")
        .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        .expect("appsrc");
    // Takes every buffer pushed before the pipeline plays.
    src.set_max_bytes(0);
    src.set_caps(Some(
        &gst_video::VideoCapsBuilder::new()
            .format(gst_video::VideoFormat::I420)
            .width(w as i32)
            .height(h as i32)
            .framerate(gst::Fraction::new(25, 1))
            .build(),
    ));
    for i in 0..n {
        let mut b = frame.copy();
        let m = b.get_mut().expect("writable");
        m.set_pts(gst::ClockTime::from_mseconds(40 * i));
        src.push_buffer(b).expect("push");
    }
    src.end_of_stream().expect("eos");
    let t0 = Instant::now();
    p.set_state(gst::State::Playing).expect("play");
    let bus = p.bus().expect("bus");
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    let s = t0.elapsed().as_secs_f64();
    p.set_state(gst::State::Null).expect("null");
    println!(
        "pianocrop element, 1920x1080 I420 -> 900x100: {:>9.1} frames/s ({n} frames)",
        n as f64 / s
    );
}

/// The real Bach clip, a frame every 5 s: distance of each detected corner from the corners
/// its README gives.
fn bach_report() {
    gst::init().expect("gst");
    let path = common::shared_data("data/real/bach/video.mp4");
    let path = path.display();
    let truth = [
        [9.0, 286.0],
        [1275.0, 300.0],
        [1258.0, 450.0],
        [24.0, 434.0],
    ];
    let p = gst::parse::launch(&format!(
        "filesrc location=\"{path}\" ! decodebin ! videoconvert ! video/x-raw,format=GRAY8 ! appsink name=out sync=false"
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .expect("a pipeline");
    let sink = p
        .by_name("out")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .expect("appsink");
    p.set_state(gst::State::Playing).expect("play");
    let (mut next, mut worst, mut found, mut frames) = (0u64, 0f64, 0, 0);
    while let Ok(sample) = sink.pull_sample() {
        let (Some(buf), Some(caps)) = (sample.buffer(), sample.caps()) else {
            continue;
        };
        if buf.pts().is_none_or(|t| t.seconds() < next) {
            continue;
        }
        next += 5;
        frames += 1;
        let info = gst_video::VideoInfo::from_caps(caps).expect("info");
        let map = buf.map_readable().expect("map");
        let img = GrayImage {
            data: &map[info.offset()[0]..],
            width: info.width() as usize,
            height: info.height() as usize,
            stride: info.stride()[0] as usize,
        };
        if let Some(d) = detect(&img, &DetectParams::default()) {
            found += 1;
            for (c, t) in d.corners.iter().zip(&truth) {
                worst = worst.max(dist(*c, *t));
            }
        }
    }
    p.set_state(gst::State::Null).expect("null");
    println!(
        "Bach clip, a frame every 5 s: found in {found} of {frames}, worst corner {worst:.1} px from the README's (1% of the width: 12.7 px)"
    );
}

fn main() {
    println!("keyfind on the full set (seeds 20_000..20_060)");
    let t0 = Instant::now();
    report(20_000..20_060);
    println!("({:.1} s)\n", t0.elapsed().as_secs_f64());

    let (sim, gray) = clip(SimConfig {
        seed: 20_000,
        width: 1920,
        height: 1080,
        ..Default::default()
    });
    let img = image(&sim, &gray);
    let corners = sim.corners().map(|p| [p[0] as f64, p[1] as f64]);
    let rect =
        Rectifier::new(&corners, sim.keyboard(), (1920, 1080, 1920), 900, 100).expect("rectifier");
    let mut strip = vec![0u8; 900 * 100];
    let (t0, mut frames) = (Instant::now(), 0u64);
    while t0.elapsed().as_secs_f64() < 2.0 {
        for _ in 0..50 {
            rect.rectify(black_box(&img), &mut strip);
            black_box(&strip);
        }
        frames += 50;
    }
    let s = t0.elapsed().as_secs_f64();
    println!(
        "Rectifier::rectify 1920x1080 -> 900x100: {:>9.1} frames/s ({frames} frames, one thread)",
        frames as f64 / s
    );

    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let t0 = Instant::now();
            black_box(detect(black_box(&img), &DetectParams::default()));
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "detect 1920x1080: {:.2} ms (median of 5; min {:.2}, max {:.2})",
        times[2], times[0], times[4]
    );
    // Whatever the turn: the search before a lock (quarter turns and tilts, both half turns).
    let turned: Vec<u8> = gray.iter().rev().copied().collect();
    for (name, px) in [("upright", &gray), ("upside down", &turned)] {
        let img = image(&sim, px);
        let mut scratch = Vec::new();
        let mut found = None;
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                let t0 = Instant::now();
                found = black_box(detect_any(
                    black_box(&img),
                    &DetectParams::default(),
                    None,
                    &mut scratch,
                ));
                t0.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "detect_any 1920x1080 {name}: {:.2} ms (median of 5; min {:.2}, max {:.2}); turn found {:?}",
            times[2],
            times[0],
            times[4],
            found.map(|f| (angle_of(&f.0.corners) * 10.0).round() / 10.0)
        );
    }
    element_throughput(&gray);
    bach_report();
}
