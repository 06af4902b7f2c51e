// SPDX-License-Identifier: MPL-2.0
//! The random look of one clip (instrument, room, camera, light) and the drawing of everything
//! that does not move: room, piano body, sheet music, keyboard with keys up.

use tiny_skia::{
    Color, FillRule, GradientStop, LinearGradient, Paint, PathBuilder, Pixmap, Point, Rect, Shader,
    SpreadMode, Stroke, Transform,
};

use super::rng::{Rng, hash3};
use crate::core::keyboard::{Keyboard, is_black};

/// An RGB colour with components in [0, 1].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rgb(pub f32, pub f32, pub f32);

impl Rgb {
    pub fn paint(self, alpha: f32) -> Paint<'static> {
        let mut p = Paint::default();
        p.set_color(
            Color::from_rgba(
                self.0.clamp(0.0, 1.0),
                self.1.clamp(0.0, 1.0),
                self.2.clamp(0.0, 1.0),
                alpha.clamp(0.0, 1.0),
            )
            .unwrap_or(Color::BLACK),
        );
        p.anti_alias = true;
        p
    }

    pub fn scale(self, k: f32) -> Rgb {
        Rgb(self.0 * k, self.1 * k, self.2 * k)
    }

    pub fn mix(self, o: Rgb, t: f32) -> Rgb {
        Rgb(
            self.0 + (o.0 - self.0) * t,
            self.1 + (o.1 - self.1) * t,
            self.2 + (o.2 - self.2) * t,
        )
    }

    pub fn color(self) -> Color {
        Color::from_rgba(
            self.0.clamp(0.0, 1.0),
            self.1.clamp(0.0, 1.0),
            self.2.clamp(0.0, 1.0),
            1.0,
        )
        .unwrap_or(Color::BLACK)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Floor {
    Rug,
    Wood,
    Plain,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// Black digital piano with a control panel.
    Digital,
    /// Grand or upright: a polished fallboard above the keys.
    Acoustic,
}

/// Everything random about a clip's look, drawn once from its seed.
#[derive(Clone, Debug)]
pub struct Look {
    pub keyboard: Keyboard,
    pub body: Body,
    pub floor: Floor,
    pub floor_a: Rgb,
    pub floor_b: Rgb,
    pub body_color: Rgb,
    pub white_key: Rgb,
    pub black_key: Rgb,
    pub black_gloss: f32,
    /// Key length / white key width.
    pub key_ratio: f32,
    /// Black key length / white key length.
    pub black_len: f32,
    pub black_width: f32,
    pub gap: f32,
    pub sheet_music: bool,
    pub skin: Rgb,
    /// Hand size relative to a white key.
    pub hand_scale: f32,
    pub sleeve: Rgb,
    pub shirt: Rgb,
    pub shadow_dx: f32,
    pub shadow_dy: f32,
    pub shadow_alpha: f32,
    /// Strength of the pressed-key cues (0 = invisible).
    pub press_cue: f32,
    pub lit_keys: bool,
    pub lit_color: Rgb,
}

impl Look {
    pub fn random(rng: &mut Rng, keyboard: Keyboard, lit_keys: bool) -> Look {
        let body = if rng.chance(0.6) {
            Body::Digital
        } else {
            Body::Acoustic
        };
        let floor = *rng.pick(&[Floor::Rug, Floor::Wood, Floor::Wood, Floor::Plain]);
        let (floor_a, floor_b) = match floor {
            Floor::Rug => (
                Rgb(
                    rng.range(0.35, 0.6),
                    rng.range(0.1, 0.25),
                    rng.range(0.1, 0.2),
                ),
                Rgb(
                    rng.range(0.6, 0.85),
                    rng.range(0.5, 0.7),
                    rng.range(0.3, 0.5),
                ),
            ),
            Floor::Wood => {
                let b = rng.range(0.35, 0.7);
                (Rgb(b, b * 0.62, b * 0.35), Rgb(b * 0.8, b * 0.48, b * 0.27))
            }
            Floor::Plain => {
                let g = rng.range(0.2, 0.8);
                (Rgb(g, g * 0.97, g * 0.93), Rgb(g * 0.9, g * 0.88, g * 0.85))
            }
        };
        let body_color = match body {
            Body::Digital => Rgb(0.06, 0.06, 0.07).scale(rng.range(0.7, 1.6)),
            Body::Acoustic => {
                if rng.chance(0.7) {
                    Rgb(0.03, 0.03, 0.035)
                } else {
                    Rgb(0.32, 0.15, 0.08).scale(rng.range(0.6, 1.2))
                }
            }
        };
        let ivory = rng.range(0.0, 1.0);
        let white_key = Rgb(0.96, 0.965, 0.97).mix(Rgb(0.93, 0.89, 0.78), ivory * ivory * ivory);
        let skin = *rng.pick(&[
            Rgb(0.93, 0.76, 0.65),
            Rgb(0.87, 0.68, 0.55),
            Rgb(0.78, 0.58, 0.45),
            Rgb(0.62, 0.44, 0.32),
            Rgb(0.45, 0.31, 0.22),
            Rgb(0.95, 0.8, 0.72),
        ]);
        Look {
            keyboard,
            body,
            floor,
            floor_a,
            floor_b,
            body_color,
            white_key: white_key.scale(rng.range(0.92, 1.02)),
            black_key: Rgb(0.05, 0.05, 0.06).scale(rng.range(0.6, 2.0)),
            black_gloss: rng.range(0.0, 0.25),
            key_ratio: rng.range(5.8, 6.6),
            black_len: rng.range(0.6, 0.66),
            black_width: rng.range(0.9, 1.05),
            gap: rng.range(0.03, 0.07),
            sheet_music: rng.chance(0.7),
            skin: skin.scale(rng.range(0.9, 1.08)),
            hand_scale: rng.range(1.05, 1.35),
            sleeve: Rgb(rng.f32(), rng.f32(), rng.f32()).scale(rng.range(0.3, 0.9)),
            shirt: Rgb(rng.f32(), rng.f32(), rng.f32()).scale(rng.range(0.2, 0.8)),
            shadow_dx: rng.range(-0.5, 0.5),
            shadow_dy: rng.range(-0.6, -0.1),
            shadow_alpha: rng.range(0.15, 0.35),
            press_cue: rng.range(0.3, 1.0),
            lit_keys,
            lit_color: *rng.pick(&[Rgb(0.3, 0.85, 0.4), Rgb(0.3, 0.6, 1.0), Rgb(1.0, 0.55, 0.2)]),
        }
    }
}

/// Where the keyboard lies in the (unwarped) world image, in pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KeyboardRect {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl KeyboardRect {
    pub fn width(&self) -> f32 {
        self.x1 - self.x0
    }
    pub fn height(&self) -> f32 {
        self.y1 - self.y0
    }
    /// White key width in pixels.
    pub fn white(&self, kb: &Keyboard) -> f32 {
        self.width() / kb.white_keys() as f32
    }
    /// Pixel x-span and bottom y of a key.
    pub fn key(&self, look: &Look, note: u8) -> Option<(f32, f32, f32)> {
        let (a, b) = look.keyboard.span(note)?;
        let (mut xa, mut xb) = (self.x0 + a * self.width(), self.x0 + b * self.width());
        let bottom = if is_black(note) {
            let c = (xa + xb) / 2.0;
            let hw = (xb - xa) / 2.0 * look.black_width;
            xa = c - hw;
            xb = c + hw;
            self.y0 + self.height() * look.black_len
        } else {
            self.y1
        };
        Some((xa, xb, bottom))
    }
}

/// A rectangle at least one pixel wide and high.
pub fn rect(x: f32, y: f32, w: f32, h: f32) -> Option<Rect> {
    Rect::from_xywh(x, y, w.max(1.0), h.max(1.0))
}

pub fn fill_rect(pm: &mut Pixmap, r: Option<Rect>, paint: &Paint) {
    if let Some(r) = r {
        if r.width() < 3.0 || r.height() < 3.0 {
            // tiny-skia's anti-aliased rectangle filler asserts on rectangles that cover
            // no whole pixel; draw those aliased.
            let mut p = paint.clone();
            p.anti_alias = false;
            pm.fill_rect(r, &p, Transform::identity(), None);
        } else {
            pm.fill_rect(r, paint, Transform::identity(), None);
        }
    }
}

fn vgradient(y0: f32, y1: f32, c0: Rgb, c1: Rgb) -> Paint<'static> {
    let mut p = Paint::default();
    if let Some(s) = LinearGradient::new(
        Point::from_xy(0.0, y0),
        Point::from_xy(0.0, y1),
        vec![
            GradientStop::new(0.0, c0.color()),
            GradientStop::new(1.0, c1.color()),
        ],
        SpreadMode::Pad,
        Transform::identity(),
    ) {
        p.shader = s;
    } else {
        p.shader = Shader::SolidColor(c0.color());
    }
    p.anti_alias = true;
    p
}

/// A textured floor or room, straight into the pixels (cheap per-pixel maths, drawn once).
fn draw_floor(pm: &mut Pixmap, look: &Look, rng: &mut Rng) {
    let (w, h) = (pm.width(), pm.height());
    let seed = rng.next_u64() as u32;
    let fx = rng.range(0.02, 0.06);
    let fy = rng.range(0.02, 0.06);
    let plank = rng.range(20.0, 60.0) * (w as f32 / 1280.0);
    let data = pm.data_mut();
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f32, y as f32);
            let t = match look.floor {
                Floor::Rug => {
                    let s = (xf * fx).sin() * (yf * fy).cos()
                        + 0.5 * ((xf + yf) * fx * 1.7).sin()
                        + 0.3 * ((xf * fx * 0.37).cos() * (yf * fy * 0.41).sin() * 6.0).sin();
                    (0.5 + 0.35 * s + 0.25 * (hash3(x / 3, y / 3, seed) - 0.5)).clamp(0.0, 1.0)
                }
                Floor::Wood => {
                    let p = (xf / plank).floor();
                    let grain = ((yf * 0.05 + hash3(p as u32, 0, seed) * 50.0).sin() * 0.5
                        + (yf * 0.013 + xf * 0.2).sin() * 0.3)
                        * 0.5
                        + 0.5;
                    let edge = if (xf / plank).fract() < 0.03 {
                        0.6
                    } else {
                        0.0
                    };
                    (grain * 0.7 + hash3(p as u32, 7, seed) * 0.3 + edge).min(1.0)
                }
                Floor::Plain => 0.5 + 0.1 * (hash3(x / 2, y / 2, seed) - 0.5),
            };
            let c = look.floor_a.mix(look.floor_b, t);
            let i = ((y * w + x) * 4) as usize;
            data[i] = (c.0.clamp(0.0, 1.0) * 255.0) as u8;
            data[i + 1] = (c.1.clamp(0.0, 1.0) * 255.0) as u8;
            data[i + 2] = (c.2.clamp(0.0, 1.0) * 255.0) as u8;
            data[i + 3] = 255;
        }
    }
}

/// Draw the static scene: room, piano body, music stand, keyboard with every key up, and
/// the player's lap below the keyboard.
pub fn draw_static(pm: &mut Pixmap, look: &Look, kr: &KeyboardRect, rng: &mut Rng, full: bool) {
    let h = pm.height() as f32;
    let wk = kr.white(&look.keyboard);
    if full {
        draw_floor(pm, look, rng);
        // Piano body: from above the keys to a little below them, wider than the keys.
        let margin = wk * rng.range(0.3, 2.5);
        let top = kr.y0 - kr.height() * rng.range(0.45, 0.9);
        fill_rect(
            pm,
            rect(
                kr.x0 - margin,
                top,
                kr.width() + 2.0 * margin,
                kr.y1 - top + wk * 0.5,
            ),
            &look.body_color.paint(1.0),
        );
        // Panel: controls or fallboard reflection.
        match look.body {
            Body::Digital => {
                let n = rng.int(6, 20);
                for _ in 0..n {
                    let x = rng.range(kr.x0, kr.x1);
                    let y = rng.range(top + 4.0, kr.y0 - 6.0);
                    let s = wk * rng.range(0.3, 1.0);
                    let c = if rng.chance(0.8) {
                        look.body_color.scale(2.5).mix(Rgb(0.3, 0.3, 0.3), 0.3)
                    } else {
                        Rgb(0.9, 0.3, 0.1)
                    };
                    if let Some(p) = PathBuilder::from_circle(x, y, s * 0.5) {
                        pm.fill_path(
                            &p,
                            &c.paint(1.0),
                            FillRule::Winding,
                            Transform::identity(),
                            None,
                        );
                    }
                }
                if rng.chance(0.6) {
                    let lw = wk * rng.range(5.0, 10.0);
                    let lx = rng.range(kr.x0 + lw, kr.x1 - 2.0 * lw);
                    let lcd = *rng.pick(&[
                        Rgb(0.95, 0.6, 0.15),
                        Rgb(0.5, 0.8, 0.9),
                        Rgb(0.7, 0.75, 0.6),
                    ]);
                    fill_rect(
                        pm,
                        rect(lx, top + (kr.y0 - top) * 0.3, lw, (kr.y0 - top) * 0.4),
                        &lcd.paint(1.0),
                    );
                }
            }
            Body::Acoustic => {
                let refl = vgradient(top, kr.y0, look.body_color.scale(3.0), look.body_color);
                fill_rect(
                    pm,
                    rect(kr.x0 - margin, top, kr.width() + 2.0 * margin, kr.y0 - top),
                    &refl,
                );
            }
        }
        // Sheet music on the stand, above the body.
        if look.sheet_music && top > h * 0.08 {
            let pw = kr.width() * rng.range(0.25, 0.35);
            let ph = (top - 2.0).min(pw * 1.3);
            let cx = (kr.x0 + kr.x1) / 2.0 + rng.range(-0.1, 0.1) * kr.width();
            let paper = Rgb(0.92, 0.92, 0.9).scale(rng.range(0.85, 1.05));
            for side in [-1.0f32, 0.0] {
                let x = cx + side * pw;
                let y = top - ph;
                fill_rect(pm, rect(x, y, pw, ph), &paper.paint(1.0));
                let ink = Rgb(0.15, 0.15, 0.15).paint(0.8);
                let line_gap = (ph / 60.0).max(1.0);
                let mut sy = y + ph * 0.08;
                while sy + line_gap * 5.0 < top - ph * 0.05 {
                    for l in 0..5 {
                        fill_rect(
                            pm,
                            rect(
                                x + pw * 0.06,
                                sy + l as f32 * line_gap,
                                pw * 0.88,
                                (line_gap * 0.18).max(0.5),
                            ),
                            &ink,
                        );
                    }
                    for _ in 0..rng.int(10, 24) {
                        let nx = rng.range(x + pw * 0.08, x + pw * 0.92);
                        let ny = sy + rng.range(-1.0, 5.0) * line_gap;
                        if let Some(p) = PathBuilder::from_circle(nx, ny, line_gap * 0.55) {
                            pm.fill_path(&p, &ink, FillRule::Winding, Transform::identity(), None);
                        }
                    }
                    sy += line_gap * rng.range(9.0, 12.0);
                }
            }
        }
        // The player's lap, below the keyboard.
        let lap_w = kr.width() * rng.range(0.25, 0.4);
        let lap_x = (kr.x0 + kr.x1) / 2.0 - lap_w / 2.0 + rng.range(-0.05, 0.05) * kr.width();
        let lap_top = kr.y1 + wk * rng.range(0.5, 3.0);
        let mut pb = PathBuilder::new();
        pb.move_to(lap_x, h + 10.0);
        pb.quad_to(lap_x - lap_w * 0.05, lap_top, lap_x + lap_w * 0.5, lap_top);
        pb.quad_to(lap_x + lap_w * 1.05, lap_top, lap_x + lap_w, h + 10.0);
        pb.close();
        if let Some(p) = pb.finish() {
            pm.fill_path(
                &p,
                &look.shirt.paint(1.0),
                FillRule::Winding,
                Transform::identity(),
                None,
            );
        }
    }
    draw_keys(pm, look, kr, &[]);
}

/// Draw the keys; `pressed` holds, per key of the keyboard, how far it is down (0..1).
pub fn draw_keys(pm: &mut Pixmap, look: &Look, kr: &KeyboardRect, pressed: &[(u8, f32)]) {
    let kb = look.keyboard;
    let gap_color = Rgb(0.25, 0.25, 0.25).mix(look.white_key, 0.3);
    let down = |n: u8| pressed.iter().find(|(p, _)| *p == n).map(|(_, d)| *d);
    let all = pressed.is_empty();
    let wk = kr.white(&kb);
    for n in kb.notes().filter(|&n| !is_black(n)) {
        let d = down(n);
        if !all && d.is_none() {
            continue;
        }
        let Some((xa, xb, bottom)) = kr.key(look, n) else {
            continue;
        };
        let gap = (wk * look.gap).max(0.6);
        let mut c = look.white_key;
        let depth = d.unwrap_or(0.0) * look.press_cue;
        if look.lit_keys && depth > 0.0 {
            c = c.mix(look.lit_color, 0.8);
        }
        c = c.scale(1.0 - 0.06 * depth);
        // Gap line (darker when a neighbour is pressed: the side of the key shows).
        fill_rect(
            pm,
            rect(xa, kr.y0, xb - xa, bottom - kr.y0),
            &gap_color.scale(1.0 - 0.3 * depth).paint(1.0),
        );
        let shrink = gap * (1.0 + 0.6 * depth);
        let top_face = vgradient(kr.y0, bottom, c.scale(0.93), c);
        fill_rect(
            pm,
            rect(xa + shrink / 2.0, kr.y0, xb - xa - shrink, bottom - kr.y0),
            &top_face,
        );
        // Front lip: the key's front edge, which drops (and darkens) when the key is down.
        let lip = kr.height() * 0.025 * (1.0 + depth * 1.5);
        fill_rect(
            pm,
            rect(xa + shrink / 2.0, bottom - lip, xb - xa - shrink, lip),
            &c.scale(0.82 - 0.15 * depth).paint(1.0),
        );
        if !all {
            // Re-draw the black neighbours that overlap this white key.
            for b in [n.wrapping_sub(1), n + 1] {
                if is_black(b) && kb.contains(b) {
                    draw_black(pm, look, kr, b, down(b).unwrap_or(0.0));
                }
            }
        }
    }
    for n in kb.notes().filter(|&n| is_black(n)) {
        let d = down(n);
        if all || d.is_some() {
            draw_black(pm, look, kr, n, d.unwrap_or(0.0));
        }
    }
}

fn draw_black(pm: &mut Pixmap, look: &Look, kr: &KeyboardRect, n: u8, depth: f32) {
    let Some((xa, xb, bottom)) = kr.key(look, n) else {
        return;
    };
    let depth = depth * look.press_cue;
    let mut c = look.black_key;
    if look.lit_keys && depth > 0.0 {
        c = c.mix(look.lit_color, 0.7);
    }
    let w = xb - xa;
    // Body with a shadow on the white keys below it.
    fill_rect(
        pm,
        rect(xa - w * 0.05, kr.y0, w * 1.1, bottom - kr.y0 + w * 0.15),
        &Rgb(0.0, 0.0, 0.0).paint(0.25),
    );
    fill_rect(pm, rect(xa, kr.y0, w, bottom - kr.y0), &c.paint(1.0));
    // Top face: narrower, with a gloss band; moves down a little when pressed.
    let inset = w * 0.12;
    let top_end = bottom - (bottom - kr.y0) * (0.09 - 0.04 * depth);
    let face = vgradient(
        kr.y0,
        top_end,
        c.scale(1.0 + 2.0 * look.black_gloss),
        c.scale(1.3 + look.black_gloss * 3.0 - 0.4 * depth),
    );
    fill_rect(
        pm,
        rect(xa + inset, kr.y0, w - 2.0 * inset, top_end - kr.y0),
        &face,
    );
}

/// A stroke of the given width with round ends.
///
/// Widths under 1.5 px are raised to it: thinner strokes go through tiny-skia's hairline path,
/// which asserts on some sub-pixel cases at very small frame sizes.
pub fn round_stroke(width: f32) -> Stroke {
    Stroke {
        width: width.max(1.5),
        line_cap: tiny_skia::LineCap::Round,
        line_join: tiny_skia::LineJoin::Round,
        ..Default::default()
    }
}

/// Synthesia-style falling notes above the keyboard: each note a bar in its key's column
/// that reaches the keys when it starts and leaves them when it ends; `ahead` is the time
/// the space above the keyboard shows. Low notes (left hand, below middle C) blue, the rest
/// green; black-key notes darker.
pub fn draw_falling(
    pm: &mut Pixmap,
    look: &Look,
    kr: &KeyboardRect,
    notes: &[super::super::notes::Note],
    t: u64,
    ahead: u64,
) {
    let px_per_ns = kr.y0 as f64 / ahead.max(1) as f64;
    let y_of = |time: u64| kr.y0 as f64 - (time as f64 - t as f64) * px_per_ns;
    for n in notes {
        if n.end <= t || n.start > t + ahead {
            continue;
        }
        let Some((xa, xb, _)) = kr.key(look, n.pitch) else {
            continue;
        };
        let top = y_of(n.end).max(0.0) as f32;
        let bottom = y_of(n.start).min(kr.y0 as f64) as f32;
        let mut c = if n.pitch < 60 {
            Rgb(0.25, 0.55, 0.95)
        } else {
            Rgb(0.35, 0.85, 0.35)
        };
        if is_black(n.pitch) {
            c = c.scale(0.7);
        }
        let pad = ((xb - xa) * 0.08).max(1.0);
        fill_rect(
            pm,
            rect(xa + pad, top, xb - xa - 2.0 * pad, bottom - top),
            &c.paint(1.0),
        );
    }
}
