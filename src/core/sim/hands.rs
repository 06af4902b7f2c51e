// SPDX-License-Identifier: MPL-2.0
//! The player's hands: which hand plays which note, where each hand is over time, which
//! finger is on which key, and how hands, fingers, forearms and their shadows are drawn.

use tiny_skia::{FillRule, Path, PathBuilder, Pixmap, Transform};

use super::rng::Rng;
use super::scene::{KeyboardRect, Look, Rgb, round_stroke};
use crate::core::keyboard::is_black;
use crate::core::notes::{MSECOND, Nanos, Note};

const LEFT: usize = 0;
const RIGHT: usize = 1;
/// Notes starting within this of each other form one chord.
const CHORD: Nanos = 30 * MSECOND;
/// A hand moves to its next position in this time before the note.
const MOVE: Nanos = 160 * MSECOND;

/// Which hand plays each note, and each hand's centre (fraction of keyboard width) over time.
#[derive(Clone, Debug)]
pub struct HandPlan {
    pub hand_of: Vec<usize>,
    keyframes: [Vec<(Nanos, f32)>; 2],
    /// Finger rest spacing, fraction of keyboard width.
    spacing: f32,
}

fn centre(xs: &[f32]) -> f32 {
    let lo = xs.iter().copied().fold(f32::MAX, f32::min);
    let hi = xs.iter().copied().fold(f32::MIN, f32::max);
    (lo + hi) / 2.0
}

impl HandPlan {
    /// `x_of(note)` is the key's centre as a fraction of the keyboard width.
    pub fn new(notes: &[Note], x_of: &dyn Fn(u8) -> f32, white_keys: usize) -> HandPlan {
        let span_limit = 9.5 / white_keys as f32;
        let mut pos = [0.35f32, 0.65];
        let mut hand_of = vec![RIGHT; notes.len()];
        let mut keyframes: [Vec<(Nanos, f32)>; 2] = [vec![(0, pos[0])], vec![(0, pos[1])]];
        // Notes in time order (they are sorted by start already).
        let mut i = 0;
        while i < notes.len() {
            let mut j = i + 1;
            while j < notes.len() && notes[j].start < notes[i].start + CHORD {
                j += 1;
            }
            let t = notes[i].start;
            let mut group: Vec<usize> = (i..j).collect();
            group.sort_by(|&a, &b| x_of(notes[a].pitch).total_cmp(&x_of(notes[b].pitch)));
            // Notes each hand is still holding.
            let held = |h: usize, hand_of: &[usize]| -> Vec<f32> {
                (0..i)
                    .filter(|&k| hand_of[k] == h && notes[k].end > t)
                    .map(|k| x_of(notes[k].pitch))
                    .collect()
            };
            let xs: Vec<f32> = group.iter().map(|&k| x_of(notes[k].pitch)).collect();
            let split = if xs.last().unwrap_or(&0.0) - xs.first().unwrap_or(&0.0) > span_limit
                || group.len() > 5
            {
                // Split at the widest gap.
                (1..xs.len())
                    .max_by(|&a, &b| (xs[a] - xs[a - 1]).total_cmp(&(xs[b] - xs[b - 1])))
                    .unwrap_or(0)
            } else {
                // One hand: the nearer one that can still reach.
                let c = centre(&xs);
                let fits = |h: usize| {
                    let mut all = held(h, &hand_of);
                    all.extend(&xs);
                    all.len() <= 5
                        && all.iter().copied().fold(f32::MIN, f32::max)
                            - all.iter().copied().fold(f32::MAX, f32::min)
                            <= span_limit
                };
                let near = if (c - pos[LEFT]).abs() <= (c - pos[RIGHT]).abs() {
                    LEFT
                } else {
                    RIGHT
                };
                let h = if fits(near) || !fits(1 - near) {
                    near
                } else {
                    1 - near
                };
                if h == LEFT { xs.len() } else { 0 }
            };
            for (n, &k) in group.iter().enumerate() {
                hand_of[k] = if n < split { LEFT } else { RIGHT };
            }
            for h in [LEFT, RIGHT] {
                let mut all = held(h, &hand_of);
                all.extend(
                    group
                        .iter()
                        .filter(|&&k| hand_of[k] == h)
                        .map(|&k| x_of(notes[k].pitch)),
                );
                if group.iter().any(|&k| hand_of[k] == h) {
                    let mut c = centre(&all);
                    // Hands do not cross: keep the left hand left of the right.
                    if h == LEFT {
                        c = c.min(pos[RIGHT] - 3.0 / white_keys as f32);
                    } else {
                        c = c.max(pos[LEFT] + 3.0 / white_keys as f32);
                    }
                    pos[h] = c;
                    keyframes[h].push((t, c));
                }
            }
            i = j;
        }
        HandPlan {
            hand_of,
            keyframes,
            spacing: 1.05 / white_keys as f32,
        }
    }

    /// Centre of hand `h` at time `t`: it reaches each keyframe's position when that note
    /// starts, moving there during the `MOVE` before it (eased).
    pub fn centre(&self, h: usize, t: Nanos) -> f32 {
        let k = &self.keyframes[h];
        let next = k.partition_point(|&(kt, _)| kt <= t);
        if next == 0 {
            return k[0].1;
        }
        let (t0, x0) = k[next - 1];
        let Some(&(t1, x1)) = k.get(next) else {
            return x0;
        };
        let start = t1.saturating_sub(MOVE).max(t0);
        if t < start {
            return x0;
        }
        let u = (t - start) as f32 / (t1 - start).max(1) as f32;
        let e = u * u * (3.0 - 2.0 * u);
        x0 + (x1 - x0) * e
    }

    /// Fingers 0 (thumb) ..= 4 (little) of hand `h` playing `xs` (key centres, sorted): the
    /// order-keeping assignment nearest to the fingers' rest places.
    pub fn fingers(&self, h: usize, centre: f32, xs: &[f32]) -> Vec<usize> {
        let rest = |f: usize| {
            let d = (f as f32 - 2.0) * self.spacing;
            if h == RIGHT { centre + d } else { centre - d }
        };
        let n = xs.len().min(5);
        let mut best = (f32::MAX, vec![]);
        // Every increasing choice of n fingers out of 5 (at most 10).
        for mask in 0u32..32 {
            if mask.count_ones() as usize != n {
                continue;
            }
            let mut fs: Vec<usize> = (0..5).filter(|f| mask & (1 << f) != 0).collect();
            if h == LEFT {
                fs.reverse();
            }
            let cost: f32 = fs.iter().zip(xs).map(|(&f, &x)| (rest(f) - x).abs()).sum();
            if cost < best.0 {
                best = (cost, fs);
            }
        }
        best.1
    }

    pub fn rest(&self, h: usize, centre: f32, f: usize) -> f32 {
        let d = (f as f32 - 2.0) * self.spacing;
        if h == RIGHT { centre + d } else { centre - d }
    }
}

/// One hand's pose in world pixels.
#[derive(Clone, Debug)]
pub struct Pose {
    pub hand: usize,
    pub knuckles: [(f32, f32); 5],
    pub tips: [(f32, f32); 5],
    pub pressing: [bool; 5],
    pub wrist: (f32, f32),
    pub elbow: (f32, f32),
}

/// Poses of both hands at time `t`, given the notes sounding then (index, note).
pub fn poses(
    plan: &HandPlan,
    look: &Look,
    kr: &KeyboardRect,
    sounding: &[(usize, Note)],
    t: Nanos,
    body_x: f32,
    wobble: &[f32; 10],
) -> [Pose; 2] {
    let w = kr.width();
    let wk = kr.white(&look.keyboard);
    let hw = wk * look.hand_scale;
    let l = kr.height();
    let x_px = |f: f32| kr.x0 + f * w;
    let key_x = |p: u8| {
        kr.key(look, p)
            .map(|(a, b, _)| (a + b) / 2.0)
            .unwrap_or(kr.x0)
    };
    [LEFT, RIGHT].map(|h| {
        let c = plan.centre(h, t);
        let mut mine: Vec<(f32, u8)> = sounding
            .iter()
            .filter(|(i, _)| plan.hand_of[*i] == h)
            .map(|(_, n)| (key_x(n.pitch), n.pitch))
            .collect();
        mine.sort_by(|a, b| a.0.total_cmp(&b.0));
        mine.truncate(5);
        let xs: Vec<f32> = mine.iter().map(|(x, _)| (x - kr.x0) / w).collect();
        let fingers = plan.fingers(h, c, &xs);
        let knuckle_y = kr.y1 + l * 0.05;
        let dir = if h == RIGHT { 1.0 } else { -1.0 };
        let mut knuckles = [(0.0, 0.0); 5];
        let mut tips = [(0.0, 0.0); 5];
        let mut pressing = [false; 5];
        for f in 0..5 {
            let rest = x_px(plan.rest(h, c, f));
            let kx = x_px(c) + dir * (f as f32 - 2.2) * hw * 1.12;
            // Knuckles on an arc: the middle finger's furthest forward.
            knuckles[f] = if f == 0 {
                (x_px(c) - dir * hw * 1.7, knuckle_y + l * 0.5)
            } else {
                (kx, knuckle_y + l * 0.05 * (f as f32 - 2.3).abs().powi(2))
            };
            let wob = wobble[h * 5 + f];
            // Fingers not playing hover, curled: their tips near the keys' front edge.
            tips[f] = (rest + wob * wk * 0.3, kr.y1 - l * (0.2 + 0.1 * wob));
            if f == 0 {
                tips[f] = (rest - dir * wk * 0.4, kr.y1 + l * (0.02 + 0.05 * wob.abs()));
            }
        }
        for (&(x, pitch), &f) in mine.iter().zip(&fingers) {
            pressing[f] = true;
            let y = if is_black(pitch) {
                kr.y0 + l * look.black_len * 0.7
            } else {
                kr.y0 + l * 0.58
            };
            tips[f] = (x, y);
        }
        // Neighbouring fingers cannot pass through each other: keep tips in order.
        for f in 2..5 {
            let prev = tips[f - 1].0;
            if dir * (tips[f].0 - prev) < wk * 0.75 && !pressing[f] {
                tips[f].0 = prev + dir * wk * 0.85;
            }
        }
        let wrist = (x_px(c) - dir * hw * 0.5, knuckle_y + l * 0.8);
        let elbow = (body_x + dir * w * 0.17, kr.y1 + l * 3.6);
        Pose {
            hand: h,
            knuckles,
            tips,
            pressing,
            wrist,
            elbow,
        }
    })
}

fn finger_path(k: (f32, f32), t: (f32, f32)) -> Option<Path> {
    // A slight bend: the middle joint sits off the straight line.
    let m = ((k.0 + t.0) / 2.0 + (t.1 - k.1) * 0.04, (k.1 + t.1) / 2.0);
    let mut pb = PathBuilder::new();
    pb.move_to(k.0, k.1);
    pb.quad_to(m.0, m.1, t.0, t.1);
    pb.finish()
}

fn palm_path(p: &Pose, wk: f32) -> Option<Path> {
    let dir = if p.hand == RIGHT { 1.0 } else { -1.0 };
    let k1 = p.knuckles[1];
    let k4 = p.knuckles[4];
    let (wx, wy) = p.wrist;
    let mut pb = PathBuilder::new();
    pb.move_to(k1.0 - dir * wk * 0.45, k1.1 - wk * 0.2);
    pb.quad_to(
        (k1.0 + k4.0) / 2.0,
        k1.1 - wk * 0.55,
        k4.0 + dir * wk * 0.4,
        k4.1 - wk * 0.1,
    );
    // Little-finger side down to the wrist.
    pb.quad_to(
        k4.0 + dir * wk * 0.8,
        (k4.1 + wy) / 2.0,
        wx + dir * wk * 1.8,
        wy,
    );
    pb.line_to(wx - dir * wk * 1.8, wy);
    // Thumb side: the ball of the thumb bulges out.
    let t = p.knuckles[0];
    pb.quad_to(t.0 - dir * wk * 0.6, t.1 + wk * 0.6, t.0, t.1);
    pb.quad_to(
        t.0 + dir * wk * 0.2,
        k1.1 + wk * 0.4,
        k1.0 - dir * wk * 0.45,
        k1.1 - wk * 0.2,
    );
    pb.close();
    pb.finish()
}

fn arm_path(p: &Pose, wk: f32, from: f32, to: f32) -> Option<Path> {
    let (wx, wy) = p.wrist;
    let (ex, ey) = p.elbow;
    let (dx, dy) = (ex - wx, ey - wy);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (nx, ny) = (-dy / len, dx / len);
    let at = |u: f32, side: f32| {
        let half = wk * (1.45 + 0.8 * u);
        (
            wx + dx * u + nx * half * side,
            wy + dy * u + ny * half * side,
        )
    };
    let mut pb = PathBuilder::new();
    let a = at(from, -1.0);
    pb.move_to(a.0, a.1);
    let b = at(to, -1.0);
    pb.line_to(b.0, b.1);
    let c = at(to, 1.0);
    pb.line_to(c.0, c.1);
    let d = at(from, 1.0);
    pb.line_to(d.0, d.1);
    pb.close();
    pb.finish()
}

/// Draw a hand (or its shadow, in one flat colour, when `shadow` is given).
pub fn draw_hand(pm: &mut Pixmap, p: &Pose, look: &Look, wk: f32, shadow: Option<(f32, f32, f32)>) {
    let (skin, dark, alpha, t) = match shadow {
        Some((dx, dy, a)) => (
            Rgb(0.0, 0.0, 0.0),
            Rgb(0.0, 0.0, 0.0),
            a,
            Transform::from_translate(dx, dy),
        ),
        None => (look.skin, look.skin.scale(0.7), 1.0, Transform::identity()),
    };
    let lit = shadow.is_none();
    let fill = skin.paint(alpha);
    let edge = dark.paint(alpha);
    // Forearm, then the sleeve over its far part.
    if let Some(arm) = arm_path(p, wk, 0.0, 1.0) {
        if lit {
            pm.stroke_path(&arm, &edge, &round_stroke(wk * 0.15), t, None);
        }
        pm.fill_path(
            &arm,
            &skin.scale(if lit { 0.94 } else { 1.0 }).paint(alpha),
            FillRule::Winding,
            t,
            None,
        );
        if lit {
            if let Some(mid) = arm_path(p, wk * 0.45, 0.0, 1.0) {
                pm.fill_path(
                    &mid,
                    &skin.scale(1.04).paint(0.6),
                    FillRule::Winding,
                    t,
                    None,
                );
            }
            if let Some(sleeve) = arm_path(p, wk * 1.08, 0.6, 1.2) {
                pm.fill_path(&sleeve, &look.sleeve.paint(1.0), FillRule::Winding, t, None);
            }
        }
    }
    if let Some(palm) = palm_path(p, wk) {
        if lit {
            pm.stroke_path(&palm, &edge, &round_stroke(wk * 0.14), t, None);
        }
        pm.fill_path(&palm, &fill, FillRule::Winding, t, None);
    }
    for f in 0..5 {
        let width = wk
            * match f {
                0 => 1.0,
                4 => 0.75,
                _ => 0.86,
            };
        if let Some(path) = finger_path(p.knuckles[f], p.tips[f]) {
            if lit {
                pm.stroke_path(&path, &edge, &round_stroke(width * 1.1), t, None);
            }
            pm.stroke_path(&path, &fill, &round_stroke(width), t, None);
            if lit {
                // Light along the top of the finger and a nail at the tip.
                pm.stroke_path(
                    &path,
                    &skin.scale(1.1).paint(0.45),
                    &round_stroke(width * 0.4),
                    t,
                    None,
                );
                let (tx, ty) = p.tips[f];
                let (kx, ky) = p.knuckles[f];
                let len = ((tx - kx).powi(2) + (ty - ky).powi(2)).sqrt().max(1.0);
                let (ux, uy) = ((kx - tx) / len, (ky - ty) / len);
                let (nx, ny) = (tx + ux * width * 0.3, ty + uy * width * 0.3);
                if let Some(nail) = PathBuilder::from_circle(nx, ny, width * 0.3) {
                    pm.fill_path(
                        &nail,
                        &skin.mix(Rgb(0.96, 0.85, 0.82), 0.4).paint(0.3),
                        FillRule::Winding,
                        t,
                        None,
                    );
                }
            }
        }
    }
}

/// Small per-finger offsets that drift slowly, so resting fingers are not frozen.
pub fn wobble(rng_seed: u64, t: Nanos) -> [f32; 10] {
    let s = t as f32 / 1e9;
    let mut r = Rng::new(rng_seed);
    std::array::from_fn(|_| {
        let a = r.range(0.3, 1.2);
        let ph = r.range(0.0, std::f32::consts::TAU);
        (s * a + ph).sin() * 0.5
    })
}
