// SPDX-License-Identifier: MPL-2.0
//! pianosim: renders a top-view piano video from notes, with its ground truth.
//!
//! Each clip's look (instrument, room, hands, camera, light, noise) comes from its seed. The
//! scene is drawn in a flat "world" image (the keyboard an axis-aligned rectangle), then seen
//! through a slightly tilted and rotated camera (a homography), lit unevenly, tinted and
//! given sensor noise. The ground truth is the key state of every frame (note-on to
//! note-off, the pedal ignored) and the keyboard's four corners in the image.

pub mod hands;
pub mod rng;
pub mod scene;

use thiserror::Error;
use tiny_skia::Pixmap;

use self::hands::{HandPlan, draw_hand, poses, wobble};
use self::rng::{Rng, hash3};
use self::scene::{KeyboardRect, Look, draw_falling, draw_keys, draw_static};
use super::geometry::Homography;
use super::keyboard::{Keyboard, KeyboardError};
use super::notes::{Nanos, Note, SECOND, frame_times, notes_to_roll};
use super::roll::{RollLayout, ValueFormat, VelocityFrame};

/// The least time a key is up between two strikes (longer than one frame at 24 fps, so at
/// least one frame shows it up).
pub const RESTRIKE_GAP: Nanos = 50_000_000;

/// Time shown above the keyboard in the falling-notes view.
pub const FALLING_AHEAD: Nanos = 3 * SECOND;
/// White keys of the 88-key piano (the falling view's key height follows its width).
const PIANO_WHITE_KEYS: f32 = 52.0;

#[derive(Debug, Error)]
pub enum SimError {
    #[error("{0}")]
    Keyboard(#[from] KeyboardError),
    #[error("frame size {0}x{1} is too small or too large (64..=4096)")]
    Size(u32, u32),
    #[error("frame rate {0}/{1} is not usable")]
    Rate(u32, u32),
    #[error("no notes to render")]
    Empty,
}

/// What the camera sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// The whole scene: room, piano, hands, seen by a slightly tilted camera.
    Scene,
    /// Only the rectified keyboard, as pianocrop outputs it: the 88-key strip fills the
    /// frame (smaller keyboards at their place in it).
    Canonical,
    /// Synthesia-style: the keyboard flat along the bottom, lit where pressed, and the notes
    /// falling onto it (for watching, not for training).
    Falling,
}

/// Settings of a render; zeros and `None` are drawn from the seed.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub width: u32,
    pub height: u32,
    pub fps_num: u32,
    pub fps_den: u32,
    pub view: View,
    pub lit_keys: bool,
    /// Number of keys (88, 76, 61); `None`: mostly 88.
    pub keys: Option<usize>,
    /// Time rendered after the last note ends.
    pub tail: Nanos,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            width: 0,
            height: 0,
            fps_num: 0,
            fps_den: 1,
            view: View::Scene,
            lit_keys: false,
            keys: None,
            tail: SECOND,
        }
    }
}

/// Per-clip camera and sensor settings.
#[derive(Clone, Debug)]
struct Camera {
    /// World pixel -> image pixel, and back.
    h: Homography,
    inv: Homography,
    /// World image origin in the world pixmap (margin).
    margin: (f32, f32),
    gain: [f32; 3],
    light_dir: (f32, f32),
    light_amount: f32,
    noise: f32,
    /// Passes of a [1 2 1] blur in each direction (lens, focus and codec softness).
    blur: u32,
}

pub struct Simulator {
    config: SimConfig,
    width: u32,
    height: u32,
    fps: (u32, u32),
    notes: Vec<Note>,
    look: Look,
    kr: KeyboardRect,
    plan: HandPlan,
    camera: Camera,
    background: Pixmap,
    work: Pixmap,
    out: Vec<u8>,
    times: Vec<Nanos>,
    body_x: f32,
    wobble_seed: u64,
    corners: [[f32; 2]; 4],
}

/// Fold notes the instrument lacks into its range by octaves.
fn fit_notes(notes: &[Note], kb: &Keyboard) -> Vec<Note> {
    let mut out: Vec<Note> = notes
        .iter()
        .map(|n| {
            let mut p = n.pitch as i32;
            while p < kb.lowest_note as i32 {
                p += 12;
            }
            while p > kb.highest_note() as i32 {
                p -= 12;
            }
            Note {
                pitch: p as u8,
                ..*n
            }
        })
        .filter(|n| n.end > n.start)
        .collect();
    out.sort();
    // One key cannot sound twice at once, and a key must come up before it is struck again
    // (MIDI files often write repeated notes back to back, which no hand can play and no
    // camera can see): a later note on the same key ends the earlier one RESTRIKE_GAP before
    // it starts (or halfway, for very fast repeats).
    let mut last_end = [0 as Nanos; 128];
    let mut idx_of = [usize::MAX; 128];
    for i in 0..out.len() {
        let p = out[i].pitch as usize;
        if idx_of[p] != usize::MAX && last_end[p] + RESTRIKE_GAP > out[i].start {
            let next_start = out[i].start;
            let prev = &mut out[idx_of[p]];
            prev.end = if prev.start + RESTRIKE_GAP < next_start.saturating_sub(RESTRIKE_GAP) {
                prev.end.min(next_start - RESTRIKE_GAP)
            } else {
                prev.end
                    .min(prev.start + next_start.saturating_sub(prev.start) / 2)
            };
        }
        idx_of[p] = i;
        last_end[p] = out[i].end;
    }
    out.retain(|n| n.end > n.start);
    out
}

impl Simulator {
    pub fn new(notes: &[Note], config: &SimConfig) -> Result<Simulator, SimError> {
        if notes.is_empty() {
            return Err(SimError::Empty);
        }
        let root = Rng::new(config.seed);
        let mut r = root.fork(1);
        let (width, height) = match (config.width, config.height, config.view) {
            (0, 0, View::Canonical) => (900, 100),
            (0, 0, View::Falling) => (1280, 720),
            (0, 0, View::Scene) => *r.pick(&[
                (640, 360),
                (854, 480),
                (960, 540),
                (1280, 720),
                (1920, 1080),
            ]),
            (w, h, _) => (w, h),
        };
        if !(64..=4096).contains(&width) || !(16..=4096).contains(&height) {
            return Err(SimError::Size(width, height));
        }
        let fps = match (config.fps_num, config.fps_den) {
            (0, _) => *r.pick(&[(24, 1), (25, 1), (30, 1), (30000, 1001), (60, 1)]),
            (n, d) if d > 0 && n / d <= 240 => (n, d),
            (n, d) => return Err(SimError::Rate(n, d)),
        };
        let keys = config
            .keys
            .unwrap_or_else(|| *r.pick(&[88, 88, 88, 88, 76, 61]));
        let keyboard = Keyboard::standard(keys)?;
        let notes = fit_notes(notes, &keyboard);
        if notes.is_empty() {
            return Err(SimError::Empty);
        }
        let look = Look::random(
            &mut root.fork(2),
            keyboard,
            config.lit_keys || config.view == View::Falling,
        );
        let (w, h) = (width as f32, height as f32);
        let mut r = root.fork(3);
        let (kr, margin) = match config.view {
            View::Canonical => {
                let (l, rr) = keyboard.canonical_extent();
                (
                    KeyboardRect {
                        x0: l * w,
                        y0: 0.0,
                        x1: rr * w,
                        y1: h,
                    },
                    (0.0, 0.0),
                )
            }
            View::Falling => {
                let (l, rr) = keyboard.canonical_extent();
                let kh = (w / PIANO_WHITE_KEYS * look.key_ratio).min(h * 0.3);
                (
                    KeyboardRect {
                        x0: l * w,
                        y0: h - kh,
                        x1: rr * w,
                        y1: h,
                    },
                    (0.0, 0.0),
                )
            }
            View::Scene => {
                // Small instruments are filmed closer: they fill about as much of the frame.
                let kw = w * r.range(0.86, 0.97);
                let kh = kw / keyboard.white_keys() as f32 * look.key_ratio;
                let x0 = (w - kw) / 2.0 + r.range(-0.3, 0.3) * (w - kw);
                let y0 = h * r.range(0.3, 0.5) - kh / 2.0;
                (
                    KeyboardRect {
                        x0,
                        y0,
                        x1: x0 + kw,
                        y1: y0 + kh,
                    },
                    (w * 0.06, h * 0.06),
                )
            }
        };
        // Camera: the world image (with margin) maps to a slightly rotated, tilted quad.
        let camera = {
            let mut r = root.fork(4);
            let (mx, my) = margin;
            let src = [[-mx, -my], [w + mx, -my], [w + mx, h + my], [-mx, h + my]]
                .map(|p| [p[0] as f64, p[1] as f64]);
            let dst = if config.view == View::Scene {
                let rot = r.range(-2.0, 2.0).to_radians() as f64;
                let (c, s) = (rot.cos(), rot.sin());
                let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
                let tilt_x = r.range(-0.02, 0.02) as f64;
                let tilt_y = r.range(-0.02, 0.02) as f64;
                src.map(|[x, y]| {
                    let (dx, dy) = (x - cx, y - cy);
                    // Keystone: one side a little nearer the camera.
                    let k = 1.0 + tilt_x * dx / cx + tilt_y * dy / cy;
                    let (dx, dy) = (dx * k, dy * k);
                    [cx + c * dx - s * dy, cy + s * dx + c * dy]
                })
            } else {
                src
            };
            let hm = Homography::from_points(&src, &dst).unwrap_or(Homography::IDENTITY);
            let temp = r.range(-0.05, 0.04);
            let scene = config.view == View::Scene;
            let clean = config.view == View::Falling;
            Camera {
                inv: hm.inverse().unwrap_or(Homography::IDENTITY),
                h: hm,
                margin,
                gain: if clean {
                    [1.0; 3]
                } else {
                    [1.0 + temp, 1.0, 1.0 - temp].map(|g| g * r.range(0.95, 1.12))
                },
                light_dir: (r.range(-1.0, 1.0), r.range(-1.0, 1.0)),
                light_amount: if scene {
                    r.range(0.0, 0.25)
                } else if clean {
                    0.0
                } else {
                    r.range(0.0, 0.1)
                },
                noise: if clean { 0.0 } else { r.range(1.0, 6.0) },
                blur: if clean {
                    0
                } else if scene {
                    *r.pick(&[0, 1, 1, 2])
                } else {
                    *r.pick(&[0, 1])
                },
            }
        };
        let world_w = (w + 2.0 * margin.0).ceil() as u32;
        let world_h = (h + 2.0 * margin.1).ceil() as u32;
        // Draw in world-pixmap coordinates: shift the keyboard by the margin.
        let kr = KeyboardRect {
            x0: kr.x0 + margin.0,
            x1: kr.x1 + margin.0,
            y0: kr.y0 + margin.1,
            y1: kr.y1 + margin.1,
        };
        let mut background = Pixmap::new(world_w, world_h).ok_or(SimError::Size(width, height))?;
        if config.view == View::Falling {
            background.fill(tiny_skia::Color::from_rgba8(18, 20, 26, 255));
        } else {
            background.fill(look.body_color.color());
        }
        draw_static(
            &mut background,
            &look,
            &kr,
            &mut root.fork(5),
            config.view == View::Scene,
        );
        let x_of = |p: u8| keyboard.span(p).map(|(a, b)| (a + b) / 2.0).unwrap_or(0.5);
        let plan = HandPlan::new(&notes, &x_of, keyboard.white_keys());
        let end = notes.iter().map(|n| n.end).max().unwrap_or(0) + config.tail;
        let n_frames =
            ((end as u128 * fps.0 as u128) / (fps.1 as u128 * SECOND as u128)) as usize + 1;
        let times = frame_times(n_frames, fps.0, fps.1);
        let corners = [
            [kr.x0, kr.y0],
            [kr.x1, kr.y0],
            [kr.x1, kr.y1],
            [kr.x0, kr.y1],
        ]
        .map(|[x, y]| {
            let p = camera
                .h
                .apply([(x - margin.0) as f64, (y - margin.1) as f64]);
            [p[0] as f32, p[1] as f32]
        });
        let body_x = (kr.x0 + kr.x1) / 2.0 + root.fork(6).range(-0.05, 0.05) * kr.width();
        Ok(Simulator {
            config: config.clone(),
            width,
            height,
            fps,
            notes,
            look,
            kr,
            plan,
            camera,
            work: background.clone(),
            background,
            out: vec![0; (width * height * 4) as usize],
            times,
            body_x,
            wobble_seed: root.fork(7).next_u64(),
            corners,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    /// Frame rate as (numerator, denominator).
    pub fn fps(&self) -> (u32, u32) {
        self.fps
    }
    pub fn n_frames(&self) -> usize {
        self.times.len()
    }
    pub fn frame_time(&self, i: usize) -> Nanos {
        self.times.get(i).copied().unwrap_or(0)
    }
    pub fn keyboard(&self) -> Keyboard {
        self.look.keyboard
    }
    /// The notes as played (folded into the instrument's range).
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }
    pub fn config(&self) -> &SimConfig {
        &self.config
    }
    /// Keyboard corners in image pixels: top-left, top-right, bottom-right, bottom-left (top =
    /// where the keys go under the panel, bottom = the front edge of the white keys).
    pub fn corners(&self) -> [[f32; 2]; 4] {
        self.corners
    }

    /// The true 88-key roll (velocities, onset channel) of frames `range`.
    pub fn truth(&self, first: usize, count: usize) -> Vec<VelocityFrame> {
        let end = (first + count).min(self.times.len());
        let first = first.min(end);
        let layout = RollLayout::piano88(ValueFormat::U8, true);
        // Include the frame before, so a note already sounding there is not marked as struck
        // in the first frame asked for.
        let from = first.saturating_sub(1);
        let mut roll = notes_to_roll(&self.notes, &layout, &self.times[from..end]);
        roll.drain(..first - from);
        roll
    }

    /// Render frame `i` as RGBA (width x height x 4 bytes, opaque).
    pub fn render(&mut self, i: usize) -> &[u8] {
        let t = self.frame_time(i);
        self.work.data_mut().copy_from_slice(self.background.data());
        let sounding: Vec<(usize, Note)> = self
            .notes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.start <= t && t < n.end)
            .map(|(k, n)| (k, *n))
            .collect();
        let pressed: Vec<(u8, f32)> = sounding.iter().map(|(_, n)| (n.pitch, 1.0)).collect();
        if !pressed.is_empty() {
            draw_keys(&mut self.work, &self.look, &self.kr, &pressed);
        }
        if self.config.view == View::Falling {
            draw_falling(
                &mut self.work,
                &self.look,
                &self.kr,
                &self.notes,
                t,
                FALLING_AHEAD,
            );
            self.finish_frame(i as u32);
            return &self.out;
        }
        let wk = self.kr.white(&self.look.keyboard) * self.look.hand_scale;
        let wob = wobble(self.wobble_seed, t);
        let p = poses(
            &self.plan,
            &self.look,
            &self.kr,
            &sounding,
            t,
            self.body_x,
            &wob,
        );
        let sh = (
            self.look.shadow_dx * wk,
            self.look.shadow_dy * wk,
            self.look.shadow_alpha,
        );
        for pose in &p {
            draw_hand(&mut self.work, pose, &self.look, wk, Some(sh));
        }
        for pose in &p {
            draw_hand(&mut self.work, pose, &self.look, wk, None);
        }
        self.finish_frame(i as u32);
        &self.out
    }

    /// Camera warp, uneven light, white balance and sensor noise, world -> output.
    fn finish_frame(&mut self, frame: u32) {
        let (w, h) = (self.width as usize, self.height as usize);
        let src = self.work.data();
        let sw = self.work.width() as usize;
        let sh = self.work.height() as usize;
        let cam = &self.camera;
        let m = cam.inv.0;
        let (mx, my) = (cam.margin.0 as f64, cam.margin.1 as f64);
        let noise = cam.noise;
        let identity = cam.h == Homography::IDENTITY;
        for y in 0..h {
            let yf = y as f64 + 0.5;
            let ly = (y as f32 / h as f32 - 0.5) * cam.light_dir.1;
            for x in 0..w {
                let xf = x as f64 + 0.5;
                let (u, v) = if identity {
                    (xf + mx - 0.5, yf + my - 0.5)
                } else {
                    let d = m[6] * xf + m[7] * yf + m[8];
                    (
                        (m[0] * xf + m[1] * yf + m[2]) / d + mx - 0.5,
                        (m[3] * xf + m[4] * yf + m[5]) / d + my - 0.5,
                    )
                };
                let u = u.clamp(0.0, (sw - 1) as f64 - 1e-3);
                let v = v.clamp(0.0, (sh - 1) as f64 - 1e-3);
                let (x0, y0) = (u as usize, v as usize);
                let (fx, fy) = ((u - x0 as f64) as f32, (v - y0 as f64) as f32);
                let i00 = (y0 * sw + x0) * 4;
                let i01 = i00 + 4;
                let i10 = i00 + sw * 4;
                let i11 = i10 + 4;
                let light =
                    1.0 + cam.light_amount * ((x as f32 / w as f32 - 0.5) * cam.light_dir.0 + ly);
                let n = (hash3(x as u32, y as u32, frame) - 0.5) * 2.0 * noise;
                let o = (y * w + x) * 4;
                for c in 0..3 {
                    let a = src[i00 + c] as f32 * (1.0 - fx) + src[i01 + c] as f32 * fx;
                    let b = src[i10 + c] as f32 * (1.0 - fx) + src[i11 + c] as f32 * fx;
                    let val = (a * (1.0 - fy) + b * fy) * light * cam.gain[c] + n;
                    self.out[o + c] = val.clamp(0.0, 255.0) as u8;
                }
                self.out[o + 3] = 255;
            }
        }
        for _ in 0..cam.blur {
            blur(&mut self.out, w, h);
        }
    }
}

/// A [1 2 1]/4 blur along rows, then along columns (RGB; alpha stays opaque).
fn blur(px: &mut [u8], w: usize, h: usize) {
    for y in 0..h {
        let row = &mut px[y * w * 4..(y + 1) * w * 4];
        let mut prev = [row[0], row[1], row[2]];
        for x in 0..w {
            let next = (x + 1).min(w - 1);
            for c in 0..3 {
                let cur = row[x * 4 + c];
                row[x * 4 + c] =
                    ((prev[c] as u16 + 2 * cur as u16 + row[next * 4 + c] as u16 + 2) / 4) as u8;
                prev[c] = cur;
            }
        }
    }
    let stride = w * 4;
    let mut prev_row = px[..stride].to_vec();
    for y in 0..h {
        let next = (y + 1).min(h - 1) * stride;
        for i in 0..stride {
            if i % 4 == 3 {
                continue;
            }
            let cur = px[y * stride + i];
            px[y * stride + i] =
                ((prev_row[i] as u16 + 2 * cur as u16 + px[next + i] as u16 + 2) / 4) as u8;
            prev_row[i] = cur;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_comes_up_before_it_is_struck_again() {
        let kb = Keyboard::standard(88).expect("88 keys");
        let ms = 1_000_000;
        let notes = [
            // Back to back: the first ends RESTRIKE_GAP early.
            Note::new(60, 0, 500 * ms, 80),
            Note::new(60, 500 * ms, 900 * ms, 80),
            // Very fast repeats: halved.
            Note::new(62, 0, 60 * ms, 80),
            Note::new(62, 60 * ms, 120 * ms, 80),
            // Overlapping: cut.
            Note::new(64, 0, 800 * ms, 80),
            Note::new(64, 300 * ms, 400 * ms, 80),
            // Far apart: untouched.
            Note::new(65, 0, 100 * ms, 80),
            Note::new(65, 400 * ms, 500 * ms, 80),
        ];
        let out = fit_notes(&notes, &kb);
        let of = |p: u8| -> Vec<(Nanos, Nanos)> {
            out.iter()
                .filter(|n| n.pitch == p)
                .map(|n| (n.start / ms, n.end / ms))
                .collect()
        };
        assert_eq!(of(60), vec![(0, 450), (500, 900)]);
        assert_eq!(of(62), vec![(0, 30), (60, 120)]);
        assert_eq!(of(64), vec![(0, 250), (300, 400)]);
        assert_eq!(of(65), vec![(0, 100), (400, 500)]);
    }
}
