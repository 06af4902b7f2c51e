// SPDX-License-Identifier: MPL-2.0
//! pianocrop on keyboards that are not upright: upside down (filmed from the far side), in
//! portrait video, and tilted by an oblique camera (the MTA clips, at 0, +45 and -45 degrees).
//!
//! The MTA and Bach tests read the shared data (`$PIANOLA_SHARED`, else `../shared` beside the
//! project) and are skipped, saying so, when it is absent. `mta_survey` (ignored; run it with
//! `--ignored --nocapture`) prints per-clip lock and corner figures for all 63 MTA clips.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use gst::prelude::*;
use gstpianola::core::keyfind::{
    DetectParams, GrayImage, KeyboardTracker, TrackEvent, TrackerConfig, detect,
};
use gstpianola::core::midi::notes_to_smf;
use gstpianola::core::music::procedural;

/// A file of the shared data: under `$PIANOLA_SHARED` when set, else under `../shared`.
fn shared_data(rel: &str) -> PathBuf {
    std::env::var_os("PIANOLA_SHARED")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join(rel)
}

/// The shared file, or None after saying the test is skipped.
fn shared_or_skip(rel: &str, test: &str) -> Option<PathBuf> {
    let p = shared_data(rel);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED {test}: {} missing (set PIANOLA_SHARED to the shared data)",
            p.display()
        );
        None
    }
}

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

fn max_corner_dist(a: &[[f64; 2]; 4], b: &[[f64; 2]; 4]) -> f64 {
    (0..4).map(|i| dist(a[i], b[i])).fold(0.0, f64::max)
}

/// One MTA clip from the manifest, corners in the clip's own (upside-down) 640x360 frame.
#[derive(Clone, Debug)]
struct MtaClip {
    name: String,
    /// "0", "+45" or "-45".
    angle: String,
    corners: [[f64; 2]; 4],
}

fn mta_manifest(path: &Path) -> Vec<MtaClip> {
    let text = std::fs::read_to_string(path).expect("manifest");
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| head.iter().position(|h| *h == name).expect(name);
    let (c_clip, c_angle, c_corners) = (col("clip"), col("camera_angle"), col("corners_rot180"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let v: Vec<f64> = f[c_corners]
                .split(',')
                .map(|t| t.trim().parse().expect("corner"))
                .collect();
            assert_eq!(v.len(), 8, "corners of {}", f[c_clip]);
            // The manifest's frame is turned half round: (x, y) -> (640 - x, 360 - y).
            let corners = [0, 1, 2, 3].map(|i| [640.0 - v[2 * i], 360.0 - v[2 * i + 1]]);
            MtaClip {
                name: f[c_clip].to_string(),
                angle: f[c_angle]
                    .split_whitespace()
                    .next()
                    .unwrap_or("?")
                    .to_string(),
                corners,
            }
        })
        .collect()
}

/// Corners, orientation and relock flag of each pianocrop lock message.
struct Lock {
    corners: [[f64; 2]; 4],
    orientation: i32,
    angle: f64,
}

fn locks_of(msgs: &[gst::Structure]) -> Vec<Lock> {
    msgs.iter()
        .filter(|s| s.name() == "pianocrop-keyboard")
        .map(|s| {
            let c: Vec<f64> = s
                .get::<gst::Array>("corners")
                .expect("corners")
                .iter()
                .map(|v| v.get::<f64>().expect("f64"))
                .collect();
            Lock {
                corners: [0, 1, 2, 3].map(|i| [c[2 * i], c[2 * i + 1]]),
                orientation: s.get::<i32>("orientation").expect("orientation field"),
                angle: s.get::<f64>("angle").expect("angle field"),
            }
        })
        .collect()
}

/// Run to EOS collecting element messages and the appsink's buffers.
fn run_collect(p: gst::Pipeline) -> (Vec<gst::Structure>, Vec<gst::Buffer>) {
    let msgs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let m2 = msgs.clone();
    let bus = p.bus().expect("bus");
    bus.enable_sync_message_emission();
    bus.connect_sync_message(None, move |_, msg| {
        if let gst::MessageView::Element(e) = msg.view()
            && let Some(s) = e.structure()
        {
            m2.lock().expect("lock").push(s.to_owned());
        }
    });
    let (bufs, _) = collect_with(p).expect("pipeline runs");
    let m = msgs.lock().expect("lock").clone();
    (m, bufs)
}

/// Share of buffers that carry the strip (not GAP padding).
fn locked_share(bufs: &[gst::Buffer]) -> f64 {
    let n = bufs.len().max(1) as f64;
    bufs.iter()
        .filter(|b| !b.flags().contains(gst::BufferFlags::GAP))
        .count() as f64
        / n
}

#[test]
fn mta_clips_of_each_camera_angle_lock_upside_down() {
    let Some(manifest) = shared_or_skip(
        "data/real/mta/MANIFEST.tsv",
        "mta_clips_of_each_camera_angle_lock_upside_down",
    ) else {
        return;
    };
    init();
    let clips = mta_manifest(&manifest);
    for name in ["p12_0_1", "p10_plus45_1", "p13_minus45_1"] {
        let clip = clips
            .iter()
            .find(|c| c.name == name)
            .expect("clip in manifest");
        let path = manifest.with_file_name(format!("{name}.mp4"));
        let p = parse(&format!(
            "filesrc location=\"{}\" ! decodebin ! videoconvert ! pianocrop timeout=0 ! appsink name=out",
            path.display()
        ));
        let (msgs, bufs) = run_collect(p);
        let locks = locks_of(&msgs);
        let share = locked_share(&bufs);
        let Some(first) = locks.first() else {
            panic!("{name} ({}): never locked", clip.angle)
        };
        for l in &locks {
            let e = max_corner_dist(&l.corners, &clip.corners);
            println!(
                "{name} ({}): lock turned {:.1} (orientation {}), corners {:.1} px from the manifest's at worst; strip on {:.1}% of {} frames",
                clip.angle,
                l.angle,
                l.orientation,
                e,
                100.0 * share,
                bufs.len()
            );
            assert!(e <= 6.0, "{name}: a corner is {e:.1} px off");
            assert_eq!(l.orientation, 180, "{name}: upside down");
        }
        assert!(
            (first.angle - 180.0).abs() < 10.0,
            "{name}: angle {}",
            first.angle
        );
        assert!(share >= 0.8, "{name}: strip on only {share:.2} of frames");
    }
}

/// The first lock's corners and the strips of `frames` frames of the Bach clip, turned by
/// `direction` (videoflip video-direction: identity, 90r, 180, 90l).
fn bach_turned(path: &Path, direction: &str, frames: u32) -> (Lock, Vec<gst::Buffer>) {
    let p = parse(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! videoflip video-direction={direction} ! identity eos-after={frames} ! pianocrop ! appsink name=out",
        path.display()
    ));
    let (msgs, bufs) = run_collect(p);
    let lock = locks_of(&msgs)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("Bach turned {direction}: no lock"));
    (lock, bufs)
}

/// A point of the 1280x720 upright frame in the frame turned by videoflip `direction`.
fn turned_point(p: [f64; 2], direction: &str) -> [f64; 2] {
    let (w, h) = (1280.0, 720.0);
    match direction {
        "90r" => [h - p[1], p[0]],
        "180" => [w - p[0], h - p[1]],
        "90l" => [p[1], w - p[0]],
        _ => p,
    }
}

#[test]
fn bach_turned_any_quarter_gives_the_upright_strip() {
    let Some(path) = shared_or_skip(
        "data/real/bach/video.mp4",
        "bach_turned_any_quarter_gives_the_upright_strip",
    ) else {
        return;
    };
    init();
    let frames = 40;
    let (upright, strips0) = bach_turned(&path, "identity", frames);
    assert_eq!(upright.orientation, 0);
    for (direction, orientation) in [("180", 180), ("90r", 90), ("90l", 270)] {
        let (l, strips) = bach_turned(&path, direction, frames);
        let want = upright.corners.map(|p| turned_point(p, direction));
        let e = max_corner_dist(&l.corners, &want);
        println!(
            "Bach turned {direction}: orientation {} (angle {:.1}), corners {e:.2} px from the upright lock's",
            l.orientation, l.angle
        );
        assert_eq!(l.orientation, orientation, "turned {direction}");
        assert!(e <= 3.0, "turned {direction}: corners {e:.1} px off");
        // The strips agree: mean absolute difference over the frames both locked.
        let (mut sum, mut n) = (0u64, 0u64);
        for (a, b) in strips0.iter().zip(&strips) {
            if a.flags().contains(gst::BufferFlags::GAP)
                || b.flags().contains(gst::BufferFlags::GAP)
            {
                continue;
            }
            let (ma, mb) = (
                a.map_readable().expect("map"),
                b.map_readable().expect("map"),
            );
            for (x, y) in ma.iter().zip(mb.iter()) {
                sum += (*x as i32 - *y as i32).unsigned_abs() as u64;
                n += 1;
            }
        }
        assert!(n > 0, "turned {direction}: no frame locked in both");
        let mad = sum as f64 / n as f64;
        println!("Bach turned {direction}: strip differs by {mad:.2} grey levels on average");
        assert!(mad < 6.0, "turned {direction}: strips differ by {mad:.2}");
    }
}

#[test]
fn orientation_property_and_message_on_a_rendered_keyboard() {
    init();
    let dir = tmpdir("crop-orient");
    let mid = dir.join("in.mid");
    std::fs::write(
        &mid,
        notes_to_smf(&procedural(5, 2.0), Some(0)).expect("smf"),
    )
    .expect("mid");
    let run_one = |direction: &str, orientation: &str| {
        let p = parse(&format!(
            "pianosim location={} seed=31 width=854 height=480 framerate=25/1 tail=0 ! videoconvert ! videoflip video-direction={direction} ! pianocrop orientation={orientation} ! appsink name=out",
            mid.display()
        ));
        let (msgs, bufs) = run_collect(p);
        (locks_of(&msgs), locked_share(&bufs))
    };
    let run_err = |direction: &str, orientation: &str| {
        let p = parse(&format!(
            "pianosim location={} seed=31 width=854 height=480 framerate=25/1 tail=0 ! videoconvert ! videoflip video-direction={direction} ! pianocrop orientation={orientation} ! appsink name=out",
            mid.display()
        ));
        collect_with(p).err()
    };
    let (up, _) = run_one("identity", "auto");
    let up = up.first().expect("upright lock").corners;
    for (direction, orientation, want) in [
        ("180", "auto", 180),
        ("180", "180", 180),
        ("90r", "auto", 90),
        ("90l", "270", 270),
    ] {
        let (locks, share) = run_one(direction, orientation);
        let l = locks
            .first()
            .unwrap_or_else(|| panic!("turned {direction}, orientation={orientation}: no lock"));
        let (w, h) = (854.0, 480.0);
        let map = |p: [f64; 2]| match direction {
            "90r" => [h - p[1], p[0]],
            "180" => [w - p[0], h - p[1]],
            "90l" => [p[1], w - p[0]],
            _ => p,
        };
        let e = max_corner_dist(&l.corners, &up.map(map));
        assert_eq!(l.orientation, want, "turned {direction}");
        assert!(e <= 3.0, "turned {direction}: corners {e:.1} px off");
        assert!(share > 0.5, "turned {direction}: strip on {share:.2}");
    }
    // Upside-down keys with the property saying upright: the half-turned view is not tried,
    // and the clip ends with the element's clear error.
    let err = run_err("180", "0").expect("orientation=0 must not find an upside-down keyboard");
    assert!(err.contains("No piano keyboard found"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// GRAY8 frames of a video, one at a time, to `f` (frame index, image).
fn for_each_gray_frame(path: &Path, mut f: impl FnMut(usize, &GrayImage)) {
    let p = parse(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=GRAY8 ! appsink name=out sync=false max-buffers=4",
        path.display()
    ));
    let sink = p
        .by_name("out")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .expect("appsink");
    p.set_state(gst::State::Playing).expect("playing");
    let mut i = 0;
    while let Ok(sample) = sink.pull_sample() {
        let (Some(buf), Some(caps)) = (sample.buffer(), sample.caps()) else {
            continue;
        };
        let info = gst_video::VideoInfo::from_caps(caps).expect("info");
        let map = buf.map_readable().expect("map");
        let img = GrayImage {
            data: &map[info.offset()[0]..],
            width: info.width() as usize,
            height: info.height() as usize,
            stride: info.stride()[0] as usize,
        };
        f(i, &img);
        i += 1;
    }
    p.set_state(gst::State::Null).expect("null");
}

/// Per MTA clip: the tracker's first lock (frame), share of frames locked, worst corner error
/// of the locks against the manifest; and per-frame detection (every 10th frame): share found
/// and the median worst-corner error. `MTA_CLIPS=a,b` limits the clips; `MTA_OLD=1` runs the
/// upright-only detector on the frames as they are instead (the state before orientations).
#[test]
#[ignore]
fn mta_survey() {
    let Some(manifest) = shared_or_skip("data/real/mta/MANIFEST.tsv", "mta_survey") else {
        return;
    };
    init();
    let only: Option<Vec<String>> = std::env::var("MTA_CLIPS")
        .ok()
        .map(|s| s.split(',').map(str::to_string).collect());
    let old = std::env::var("MTA_OLD").is_ok_and(|v| v == "1");
    let verbose = std::env::var("MTA_VERBOSE").is_ok_and(|v| v == "1");
    let mut per_angle: std::collections::BTreeMap<String, Vec<(f64, f64, f64, f64)>> =
        Default::default();
    println!(
        "{:<16} {:>5} {:>6} {:>7} {:>7} {:>9} {:>8} {:>9} {:>7}",
        "clip", "angle", "lockAt", "locked", "good", "lockErr", "detect", "detErr", "ms/det"
    );
    for clip in mta_manifest(&manifest) {
        if only.as_ref().is_some_and(|o| !o.contains(&clip.name)) {
            continue;
        }
        let path = manifest.with_file_name(format!("{}.mp4", clip.name));
        let mut tracker = KeyboardTracker::new(TrackerConfig::default(), DetectParams::default());
        let (mut frames, mut locked, mut lock_at) = (0usize, 0usize, None);
        let mut lock_err: f64 = 0.0;
        // Frames whose lock in effect is within 6 px of the manifest's corners.
        let (mut good, mut current_err) = (0usize, f64::INFINITY);
        let (mut tries, mut found, mut errs, mut ms) = (0usize, 0usize, Vec::new(), 0.0);
        let mut scratch = Vec::new();
        for_each_gray_frame(&path, |i, img| {
            frames += 1;
            if i % 10 == 0 {
                tries += 1;
                let t0 = std::time::Instant::now();
                let d = if old {
                    detect(img, &DetectParams::default())
                } else {
                    gstpianola::core::keyfind::detect_any(
                        img,
                        &DetectParams::default(),
                        None,
                        &mut scratch,
                    )
                    .map(|x| x.0)
                };
                ms += t0.elapsed().as_secs_f64() * 1e3;
                if verbose {
                    println!(
                        "  frame {i}: {:?}",
                        d.map(|d| (
                            d.keyboard.keys,
                            d.keyboard.lowest_note,
                            d.confidence,
                            gstpianola::core::keyfind::angle_of(&d.corners),
                            max_corner_dist(&d.corners, &clip.corners),
                            d.corners.map(|p| [p[0].round(), p[1].round()])
                        ))
                    );
                }
                if let Some(d) = d {
                    found += 1;
                    errs.push(max_corner_dist(&d.corners, &clip.corners));
                }
            }
            if old {
                return;
            }
            match tracker.push(img) {
                TrackEvent::Locked(d) | TrackEvent::Relocked(d) => {
                    lock_at.get_or_insert(i);
                    current_err = max_corner_dist(&d.corners, &clip.corners);
                    if verbose {
                        println!(
                            "  LOCK at frame {i}: err {current_err:.1} conf {:.2} keys {} angle {:.1}",
                            d.confidence,
                            d.keyboard.keys,
                            gstpianola::core::keyfind::angle_of(&d.corners)
                        );
                    }
                    lock_err = lock_err.max(current_err);
                }
                _ => {}
            }
            if tracker.locked().is_some() {
                locked += 1;
                if current_err <= 6.0 {
                    good += 1;
                }
            }
        });
        errs.sort_by(f64::total_cmp);
        let det_err = errs.get(errs.len() / 2).copied().unwrap_or(f64::NAN);
        let share = locked as f64 / frames.max(1) as f64;
        let det = found as f64 / tries.max(1) as f64;
        println!(
            "{:<16} {:>5} {:>6} {:>6.1}% {:>6.1}% {:>9.1} {:>7.1}% {:>9.1} {:>7.1}",
            clip.name,
            clip.angle,
            lock_at.map(|f| f.to_string()).unwrap_or("-".into()),
            100.0 * share,
            100.0 * good as f64 / frames.max(1) as f64,
            if lock_at.is_some() {
                lock_err
            } else {
                f64::NAN
            },
            100.0 * det,
            det_err,
            ms / tries.max(1) as f64
        );
        per_angle.entry(clip.angle.clone()).or_default().push((
            share,
            if lock_at.is_some() {
                lock_err
            } else {
                f64::NAN
            },
            det,
            good as f64 / frames.max(1) as f64,
        ));
    }
    for (angle, rows) in &per_angle {
        let n = rows.len() as f64;
        let locked = rows.iter().filter(|r| r.1.is_finite()).count();
        let all_good = rows.iter().filter(|r| r.1 <= 6.0 && r.0 >= 0.8).count();
        let mostly_good = rows.iter().filter(|r| r.3 >= 0.8).count();
        println!(
            "angle {angle:>3}: {} clips, locked {locked}; every lock within 6 px and locked on >= 80% of frames: {all_good}; a lock within 6 px on >= 80% of frames: {mostly_good}; mean locked share {:.1}%, mean share locked within 6 px {:.1}%, mean per-frame detection {:.1}%",
            rows.len(),
            100.0 * rows.iter().map(|r| r.0).sum::<f64>() / n,
            100.0 * rows.iter().map(|r| r.3).sum::<f64>() / n,
            100.0 * rows.iter().map(|r| r.2).sum::<f64>() / n
        );
    }
}
