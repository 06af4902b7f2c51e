// SPDX-License-Identifier: MPL-2.0
//! A found keyboard drawn over the frame it was found in (pianocrop's `draw=true`): the
//! outline red, the white keys' boundaries green, the black keys blue, drawn with tiny-skia
//! like the other pictures.

use tiny_skia::{Color, LineCap, Paint, PathBuilder, PixmapMut, Stroke, Transform};

use super::geometry::Homography;
use super::keyboard::is_black;
use super::keyfind::Detection;

const OUTLINE: [u8; 3] = [255, 40, 40];
const WHITE_GAPS: [u8; 3] = [40, 220, 60];
const BLACK_KEYS: [u8; 3] = [40, 120, 255];
/// How far down the keys (back edge 0, front edge 1) the black keys reach, as drawn.
const BLACK_DEPTH: f64 = 0.62;

/// The lines to draw for `d`, each a polyline in frame pixels with its colour.
pub fn keyboard_lines(d: &Detection) -> Vec<(Vec<[f64; 2]>, [u8; 3])> {
    let Some(hm) = Homography::from_unit_square(&d.corners) else {
        return Vec::new();
    };
    let kb = d.keyboard;
    let mut out = Vec::new();
    for n in kb.notes() {
        let Some((a, b)) = kb.span(n) else { continue };
        let (a, b) = (a as f64, b as f64);
        if is_black(n) {
            let v = BLACK_DEPTH;
            let mut q: Vec<[f64; 2]> = [[a, 0.0], [b, 0.0], [b, v], [a, v]]
                .iter()
                .map(|p| hm.apply(*p))
                .collect();
            q.push(q[0]);
            out.push((q, BLACK_KEYS));
        } else if a > 0.0 {
            out.push((vec![hm.apply([a, 0.0]), hm.apply([a, 1.0])], WHITE_GAPS));
        }
    }
    let mut outline = d.corners.to_vec();
    outline.push(d.corners[0]);
    out.push((outline, OUTLINE));
    out
}

/// Draw `d` over an RGBA frame of `w` x `h` pixels whose rows are `stride` bytes apart
/// (opaque pixels, as video frames are). Nothing is drawn when the sizes do not fit.
pub fn draw_keyboard(px: &mut [u8], w: usize, h: usize, stride: usize, d: &Detection) {
    if w == 0 || h == 0 || stride < w * 4 || px.len() < (h - 1) * stride + w * 4 {
        return;
    }
    if stride == w * 4 {
        stroke_lines(&mut px[..w * h * 4], w, h, d);
        return;
    }
    let mut tmp = vec![0u8; w * h * 4];
    for y in 0..h {
        tmp[y * w * 4..(y + 1) * w * 4].copy_from_slice(&px[y * stride..y * stride + w * 4]);
    }
    stroke_lines(&mut tmp, w, h, d);
    for y in 0..h {
        px[y * stride..y * stride + w * 4].copy_from_slice(&tmp[y * w * 4..(y + 1) * w * 4]);
    }
}

/// Stroke the lines of `d` on packed RGBA pixels.
fn stroke_lines(data: &mut [u8], w: usize, h: usize, d: &Detection) {
    let Some(mut pm) = PixmapMut::from_bytes(data, w as u32, h as u32) else {
        return;
    };
    let stroke = Stroke {
        width: 2.0,
        line_cap: LineCap::Square,
        ..Default::default()
    };
    for (points, c) in keyboard_lines(d) {
        let mut pb = PathBuilder::new();
        for (i, p) in points.iter().enumerate() {
            if i == 0 {
                pb.move_to(p[0] as f32, p[1] as f32);
            } else {
                pb.line_to(p[0] as f32, p[1] as f32);
            }
        }
        let Some(path) = pb.finish() else { continue };
        let mut paint = Paint::default();
        paint.set_color(Color::from_rgba8(c[0], c[1], c[2], 255));
        paint.anti_alias = false;
        pm.stroke_path(&path, &paint, &stroke, Transform::identity(), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keyboard::PIANO_88;

    #[test]
    fn draws_the_outline_and_keys_in_their_colours_with_any_stride() {
        let (w, h) = (200usize, 60usize);
        let d = Detection {
            corners: [[10.0, 10.0], [190.0, 10.0], [190.0, 50.0], [10.0, 50.0]],
            keyboard: PIANO_88,
            confidence: 1.0,
        };
        for stride in [w * 4, w * 4 + 16] {
            let mut px = vec![0u8; stride * h];
            for y in 0..h {
                for x in 0..w {
                    px[y * stride + x * 4 + 3] = 255;
                }
            }
            draw_keyboard(&mut px, w, h, stride, &d);
            let at = |x: usize, y: usize| {
                let o = y * stride + x * 4;
                [px[o], px[o + 1], px[o + 2]]
            };
            // The outline's left edge, red; a corner far from everything untouched.
            assert_eq!(at(10, 30), OUTLINE);
            assert_eq!(at(100, 5), [0, 0, 0]);
            let count = |c: [u8; 3]| {
                (0..h)
                    .flat_map(|y| (0..w).map(move |x| (x, y)))
                    .filter(|&(x, y)| at(x, y) == c)
                    .count()
            };
            assert!(count(BLACK_KEYS) > 100 && count(WHITE_GAPS) > 100);
            // Padding bytes past each row are left alone.
            if stride > w * 4 {
                assert!((0..h).all(|y| {
                    px[y * stride + w * 4..(y + 1) * stride]
                        .iter()
                        .all(|&b| b == 0)
                }));
            }
        }
    }
}
