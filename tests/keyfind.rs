// SPDX-License-Identifier: MPL-2.0
//! keyfind: keyboard detection on unseen pianosim clips and on one real frame.
//!
//! Seeds 10_000.. are held out: never use them to tune the detector. (benches/keyfind.rs
//! reports on the full set, seeds 20_000..20_060, also never used for tuning.)

use std::fmt;

use gst::prelude::*;
use gstpianola::core::keyfind::{DetectParams, Detection, GrayImage, detect, fit_score, luma_rgba};
use gstpianola::core::music::procedural;
use gstpianola::core::sim::{SimConfig, Simulator};

/// One clip's outcome.
struct Row {
    seed: u64,
    size: (u32, u32),
    /// True (keys, lowest note).
    truth: (usize, u8),
    /// Detected (keys, lowest note), mean corner error / true keyboard width, confidence.
    found: Option<((usize, u8), f64, f32)>,
}

impl Row {
    fn keys_right(&self) -> bool {
        self.found.is_some_and(|(k, _, _)| k == self.truth)
    }
}

struct Report {
    rows: Vec<Row>,
    /// Mean relative corner error over the clips where a keyboard was found (NaN if none).
    mean_rel_err: f64,
    found_share: f64,
    /// Share of all clips with the key count and the lowest note right.
    keys_right_share: f64,
}

impl Report {
    fn new(rows: Vec<Row>) -> Report {
        let errs: Vec<f64> = rows.iter().filter_map(|r| r.found.map(|f| f.1)).collect();
        let n = rows.len().max(1) as f64;
        Report {
            mean_rel_err: errs.iter().sum::<f64>() / errs.len() as f64,
            found_share: errs.len() as f64 / n,
            keys_right_share: rows.iter().filter(|r| r.keys_right()).count() as f64 / n,
            rows,
        }
    }

    fn count(&self, f: impl Fn(&Row) -> bool) -> usize {
        self.rows.iter().filter(|r| f(r)).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let head = ("seed", "size", "truth", "found", "rel.err", "conf");
        writeln!(
            f,
            "{:>5} {:>9}  {:<6}  {:<6} {:>9} {:>6}",
            head.0, head.1, head.2, head.3, head.4, head.5
        )?;
        for r in &self.rows {
            let size = format!("{}x{}", r.size.0, r.size.1);
            write!(
                f,
                "{:>5} {size:>9}  {:>2}@{:<3}",
                r.seed, r.truth.0, r.truth.1
            )?;
            match r.found {
                Some(((k, l), e, c)) => {
                    let mark = if r.keys_right() {
                        ""
                    } else {
                        "  <- wrong keys"
                    };
                    writeln!(f, "  {k:>2}@{l:<3} {e:>9.5} {c:>6.2}{mark}")?
                }
                None => writeln!(f, "  not found")?,
            }
        }
        write!(
            f,
            "{} clips: found {:.1}%, keys+lowest note right {:.1}%, mean corner error {:.5} of the keyboard width (over found clips)",
            self.rows.len(),
            100.0 * self.found_share,
            100.0 * self.keys_right_share,
            self.mean_rel_err
        )
    }
}

/// A file of the shared data (not part of the project): under `$PIANOLA_SHARED` when set,
/// else under `../shared` beside the project.
fn shared_data(rel: &str) -> std::path::PathBuf {
    std::env::var_os("PIANOLA_SHARED")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join(rel)
}

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// Mean Euclidean distance of the four corners, divided by the true top edge's length.
fn rel_corner_error(found: &[[f64; 2]; 4], truth: &[[f32; 2]; 4]) -> f64 {
    let t = truth.map(|p| [p[0] as f64, p[1] as f64]);
    (0..4).map(|i| dist(found[i], t[i])).sum::<f64>() / 4.0 / dist(t[0], t[1])
}

/// Detect on frame `min(25, n - 1)` of each seed's clip (look drawn from the seed).
fn evaluate(seeds: impl Iterator<Item = u64>) -> Report {
    evaluate_with(seeds, |img, _| detect(img, &DetectParams::default()))
}

fn evaluate_with(
    seeds: impl Iterator<Item = u64>,
    find: impl Fn(&GrayImage, &Simulator) -> Option<Detection>,
) -> Report {
    let rows = seeds
        .map(|seed| {
            let mut sim = simulator(seed, 4.0);
            let (w, h) = (sim.width(), sim.height());
            let frame = 25.min(sim.n_frames() - 1);
            let gray = luma_rgba(sim.render(frame));
            let img = GrayImage {
                data: &gray,
                width: w as usize,
                height: h as usize,
                stride: w as usize,
            };
            let kb = sim.keyboard();
            Row {
                seed,
                size: (w, h),
                truth: (kb.keys, kb.lowest_note),
                found: find(&img, &sim).map(|d| {
                    let k = (d.keyboard.keys, d.keyboard.lowest_note);
                    (
                        k,
                        rel_corner_error(&d.corners, &sim.corners()),
                        d.confidence,
                    )
                }),
            }
        })
        .collect();
    Report::new(rows)
}

#[test]
fn harness_scores_true_corners_as_perfect_and_misses_as_missing() {
    // An oracle that knows the truth for the first seed and finds nothing in the second.
    let report = evaluate_with(10_000..10_002, |_, sim| {
        (sim.config().seed == 10_000).then(|| Detection {
            corners: sim.corners().map(|p| [p[0] as f64, p[1] as f64]),
            keyboard: sim.keyboard(),
            confidence: 1.0,
        })
    });
    println!("{report}");
    assert!(report.mean_rel_err < 1e-9);
    assert_eq!((report.found_share, report.keys_right_share), (0.5, 0.5));
    // A shift of 1% of the width counts as 0.01.
    let t = [[0.0f32, 0.0], [100.0, 0.0], [100.0, 10.0], [0.0, 10.0]];
    let f = [[1.0, 0.0], [101.0, 0.0], [101.0, 10.0], [1.0, 10.0]];
    assert!((rel_corner_error(&f, &t) - 0.01).abs() < 1e-12);
}

#[test]
fn detects_keyboards_on_unseen_pianosim_clips() {
    let report = evaluate(10_000..10_012);
    println!("{report}");
    let n = report.rows.len();
    assert_eq!(n, 12);
    let found = report.count(|r| r.found.is_some());
    assert_eq!(found, n, "keyboard not found in {} of {n} clips", n - found);
    assert!(
        report.mean_rel_err <= 0.005,
        "mean corner error {:.5} of the keyboard width (want <= 0.005)",
        report.mean_rel_err
    );
    let right = report.count(Row::keys_right);
    assert!(
        right >= 11,
        "keys and lowest note right in only {right} of {n} clips"
    );
}

/// The GRAY8 frame of `path` at the first PTS >= `at`: (pixels, width, height), rows packed.
fn decode_gray_frame(path: &str, at: gst::ClockTime) -> (Vec<u8>, usize, usize) {
    gst::init().expect("gst init");
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{path}\" ! decodebin ! videoconvert ! video/x-raw,format=GRAY8 \
         ! appsink name=out sync=false max-buffers=2"
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .expect("a pipeline");
    let sink = pipeline
        .by_name("out")
        .expect("appsink")
        .downcast::<gst_app::AppSink>()
        .expect("an appsink");
    pipeline.set_state(gst::State::Playing).expect("playing");
    let out = loop {
        let Ok(sample) = sink.pull_sample() else {
            let err = pipeline
                .bus()
                .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]));
            panic!("{path}: no frame at {at} (decoding error or end of stream): {err:?}");
        };
        let buf = sample.buffer().expect("buffer");
        if buf.pts().is_none_or(|p| p < at) {
            continue;
        }
        let info = gst_video::VideoInfo::from_caps(sample.caps().expect("caps")).expect("info");
        let (w, h) = (info.width() as usize, info.height() as usize);
        let stride = info.stride()[0] as usize;
        let off = info.offset()[0];
        let map = buf.map_readable().expect("readable");
        let mut px = Vec::with_capacity(w * h);
        for y in 0..h {
            px.extend_from_slice(&map[off + y * stride..off + y * stride + w]);
        }
        break (px, w, h);
    };
    pipeline.set_state(gst::State::Null).expect("null");
    out
}

#[test]
fn finds_the_real_bach_keyboard() {
    let path = shared_data("data/real/bach/video.mp4");
    assert!(
        path.is_file(),
        "{} missing (set PIANOLA_SHARED)",
        path.display()
    );
    let path = path.to_str().expect("utf-8 path");
    let (px, w, h) = decode_gray_frame(path, gst::ClockTime::from_seconds(30));
    assert_eq!((w, h), (1280, 720));
    let img = GrayImage {
        data: &px,
        width: w,
        height: h,
        stride: w,
    };
    // From the clip's README: TL, TR, BR, BL.
    let truth = [
        [9.0, 286.0],
        [1275.0, 300.0],
        [1258.0, 450.0],
        [24.0, 434.0],
    ];
    let tol = 0.01 * dist(truth[0], truth[1]);
    let d = detect(&img, &DetectParams::default()).expect("no keyboard found in the Bach frame");
    println!("detected {d:?}");
    for (i, name) in ["top-left", "top-right", "bottom-right", "bottom-left"]
        .iter()
        .enumerate()
    {
        let e = dist(d.corners[i], truth[i]);
        assert!(
            e <= tol,
            "{name} corner {:?} is {e:.1} px from {:?} (tolerance {tol:.1})",
            d.corners[i],
            truth[i]
        );
    }
    assert_eq!((d.keyboard.keys, d.keyboard.lowest_note), (88, 21));
}

/// A pianosim clip of `seconds` of procedural music, all else from `seed`.
fn simulator(seed: u64, seconds: f64) -> Simulator {
    Simulator::new(
        &procedural(seed, seconds),
        &SimConfig {
            seed,
            ..Default::default()
        },
    )
    .expect("simulator")
}

/// The corners `d` would have one white key further right, and with the left end moved out
/// by `widen` white keys (a fit a key or two wider).
fn shifted(d: &Detection, keys: f64, widen: f64) -> Detection {
    let c = d.corners;
    let white = d.keyboard.white_keys() as f64;
    let along = |a: [f64; 2], b: [f64; 2], k: f64| {
        [
            a[0] + (b[0] - a[0]) * k / white,
            a[1] + (b[1] - a[1]) * k / white,
        ]
    };
    let mut out = *d;
    // Top edge: corners 0 -> 1; bottom edge: 3 -> 2.
    out.corners[0] = along(c[0], c[1], keys - widen);
    out.corners[1] = along(c[0], c[1], white + keys);
    out.corners[3] = along(c[3], c[2], keys - widen);
    out.corners[2] = along(c[3], c[2], white + keys);
    out
}

/// A fit a key off, or a key or two wider, puts black keys on white ones: the true corners
/// explain the frame clearly better, hands and all, so the tracker never moves to it.
#[test]
fn fits_a_key_off_explain_the_frame_worse_than_the_true_one() {
    for seed in 10_000..10_006u64 {
        let mut sim = simulator(seed, 4.0);
        let (w, h) = (sim.width() as usize, sim.height() as usize);
        let gray = luma_rgba(sim.render(50.min(sim.n_frames() - 1)));
        let img = GrayImage {
            data: &gray,
            width: w,
            height: h,
            stride: w,
        };
        let truth = Detection {
            corners: sim.corners().map(|p| [p[0] as f64, p[1] as f64]),
            keyboard: sim.keyboard(),
            confidence: 1.0,
        };
        let right = fit_score(&img, &truth).unwrap();
        assert!(right > 0.7, "seed {seed}: true corners score {right}");
        for (keys, widen) in [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.3), (0.0, 2.3), (0.5, 0.0)] {
            let off = fit_score(&img, &shifted(&truth, keys, widen)).unwrap_or(0.0);
            assert!(
                right - off >= 0.2,
                "seed {seed}: a fit {keys} keys off, {widen} wider scores {off} against {right}"
            );
        }
    }
}

/// Locks once and keeps the right corners through a clip with hands on the keys; a camera
/// that moves is followed.
#[test]
fn tracker_keeps_a_right_lock_and_follows_a_moved_camera() {
    use gstpianola::core::keyfind::{KeyboardTracker, TrackEvent, TrackerConfig};
    let mut sim = simulator(10_003, 8.0);
    let (w, h) = (sim.width() as usize, sim.height() as usize);
    let truth = sim.corners();
    let mut tracker = KeyboardTracker::new(TrackerConfig::default(), DetectParams::default());
    let (mut locks, mut moves) = (0, 0);
    let n = sim.n_frames().min(150);
    for i in 0..n {
        let gray = luma_rgba(sim.render(i));
        let img = GrayImage {
            data: &gray,
            width: w,
            height: h,
            stride: w,
        };
        match tracker.push_at(&img, Some(i as u64)) {
            TrackEvent::Locked(_) => locks += 1,
            TrackEvent::Relocked(_) => moves += 1,
            _ => {}
        }
    }
    assert_eq!((locks, moves), (1, 0));
    // Re-checks of a lock that still fits look at it and do not search the frame: the frames
    // until the lock (3), then of the 9 re-checks at frames 15, 30, ... 135 only the ones at
    // multiples of 120 (the full search that bounds a drift the quick look cannot see) and
    // those where hands hide too many black keys.
    let searches = tracker.searches();
    assert!(
        (4..=7).contains(&searches),
        "{searches} full searches in {n} frames"
    );
    let err = rel_corner_error(&tracker.locked().unwrap().corners, &truth);
    assert!(err < 0.005, "lock {err:.4} of the width off");
    // The camera moves 40 px to the right: the same frames shifted.
    let dx = 40usize;
    let mut moved_to = None;
    for i in n..n + 40 {
        let gray = luma_rgba(sim.render(i.min(sim.n_frames() - 1)));
        let mut shifted_img = vec![0u8; w * h];
        for y in 0..h {
            shifted_img[y * w + dx..(y + 1) * w].copy_from_slice(&gray[y * w..(y + 1) * w - dx]);
        }
        let img = GrayImage {
            data: &shifted_img,
            width: w,
            height: h,
            stride: w,
        };
        if let TrackEvent::Relocked(d) = tracker.push_at(&img, Some(i as u64)) {
            moved_to = Some(d);
        }
    }
    let d = moved_to.expect("the moved keyboard was not followed");
    let moved_truth = truth.map(|p| [p[0] + dx as f32, p[1]]);
    let err = rel_corner_error(&d.corners, &moved_truth);
    assert!(err < 0.01, "moved lock {err:.4} of the width off");
}
