// SPDX-License-Identifier: MPL-2.0
//! Training windows changed at random, as other pianos, rooms, cameras and crops would show
//! them.

use gstpianola::core::keyboard::canonical_span;
use gstpianola::core::sim::rng::{Rng, hash3};
use gstpianola::core::strip::{FRAMES, HEIGHT, KEYS, LOWEST_NOTE, WIDTH};

/// What a window's random change may do. Always: crop error (shift, scale), light
/// (brightness, contrast, gamma, light across the keys), blur and noise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    /// Also the keys' look as other pianos and rooms give it: specular glare of the room's
    /// lights (blocked by a hand over the keys), black keys a little longer or shorter
    /// against the white ones, a corner a little off (a shear).
    pub keys: bool,
    /// The largest crop shift across the keys, in strip pixels (a white key is 17.3).
    pub max_shift: f32,
    /// The largest scale change across the keys (0.01: 1%, up to 4.5 pixels at the
    /// keyboard's ends).
    pub max_scale: f32,
    /// The glare also fades on the keys next to a hand, not only under it: a hand between
    /// the room's light and the keys takes its reflection off the keys around it.
    pub glare_shadow: bool,
    /// Pictures sharper than the source as well as blurrier (an unsharp mask): footage of a
    /// higher resolution than the training clips' webcam.
    pub sharpen: bool,
    /// A camera's own marks: a lens that bends the keyboard (straight keys a few pixels off
    /// where the four corners put them, the front edge curved) and lossy compression.
    pub camera: bool,
    /// Half the windows mirrored left to right about D4, labels with them (see [`mirror`]).
    pub mirror: bool,
}

/// The crop shift across the keys of the shipped recipe: 1% of the strip's width, half a
/// white key (pianocrop's own error on the real clips is within 3 pixels).
pub const DEFAULT_MAX_SHIFT: f32 = 9.0;

/// The scale change across the keys of the shipped recipe: 1%.
pub const DEFAULT_MAX_SCALE: f32 = 0.01;

#[cfg(test)]
impl Augment {
    /// Crop error, light, blur and noise as the shipped model was trained with.
    pub const BASIC: Augment = Augment {
        keys: false,
        max_shift: DEFAULT_MAX_SHIFT,
        max_scale: DEFAULT_MAX_SCALE,
        glare_shadow: false,
        sharpen: false,
        camera: false,
        mirror: false,
    };
}

/// The same random change to all frames of a window (and to the keyboard at rest after them,
/// when the window has it), for a strip as other pianos, rooms, cameras and crops give it.
pub fn augment(window: &mut [u8], rng: &mut Rng, what: Augment) {
    let p = Params::random(rng, what);
    apply(window, &p);
}

/// [`augment`], and with `what.mirror` half the examples mirrored (window, labels and their
/// weights alike).
pub fn augment_example(
    window: &mut [u8],
    target: &mut [f32],
    mask: &mut [f32],
    rng: &mut Rng,
    what: Augment,
) {
    augment(window, rng, what);
    if what.mirror && rng.chance(0.5) {
        mirror(window, target, mask);
    }
}

/// The note the keyboard's layout is symmetric about (the black keys of C..E sit
/// symmetrically about D, those of F..B about G#): mirrored about D4, the strip is again a
/// keyboard, note n where note 124 - n was.
pub const MIRROR_NOTE: u8 = 62;

/// Mirror a window left to right about D4 (every frame and the keyboard at rest alike) and
/// move its labels and their weights to the mirrored notes: a camera to the other side of
/// the keys, light from the other side, a left hand for a right one. Notes whose mirror
/// falls below A0 (G#7..C8) get no label (weight 0); the columns beyond the strip's edge
/// repeat its last column.
pub fn mirror(window: &mut [u8], target: &mut [f32], mask: &mut [f32]) {
    let (a, b) = canonical_span(MIRROR_NOTE);
    // Pixel x's centre x + 0.5 mirrors to (a + b) * WIDTH - (x + 0.5).
    let axis = ((a + b) * WIDTH as f32 - 1.0).round() as isize;
    let mut row = vec![0u8; WIDTH];
    for line in window.chunks_exact_mut(WIDTH) {
        row.copy_from_slice(line);
        for (x, v) in line.iter_mut().enumerate() {
            *v = row[(axis - x as isize).clamp(0, WIDTH as isize - 1) as usize];
        }
    }
    // Keys A0 up to the mirror of A0 (G7) swap end for end; the ones above have no mirror.
    let mirrored = (2 * MIRROR_NOTE - 2 * LOWEST_NOTE + 1) as usize;
    for labels in [target, mask] {
        for half in labels.chunks_exact_mut(KEYS) {
            half[..mirrored].reverse();
            half[mirrored..].fill(0.0);
        }
    }
}

/// One window's change.
#[derive(Clone, Debug)]
struct Params {
    /// Shift (pixels) and scale across the keys and along them: crop error of up to
    /// `max_shift` pixels and 6% of the height, `max_scale` and 8% of scale.
    dx: f32,
    dy: f32,
    sx: f32,
    sy: f32,
    /// Pixels the middle of the key's length moves (the ends stay): black keys a little
    /// longer or shorter against the white ones, as pianos differ.
    bow: f32,
    /// Pixels the bottom row moves across the keys against the top row: a corner a little off.
    shear: f32,
    gain: f32,
    contrast: f32,
    gamma: f32,
    noise: f32,
    /// Passes of a [1, 2, 1] / 4 blur (focus, resolution).
    blur: usize,
    /// Strength of an unsharp mask (0: none), applied after the blur.
    sharpen: f32,
    /// Pixels beside a hand over which the glare comes back (0: only under the hand).
    shadow: f32,
    /// A lens's bend, in pixels, of a keyboard whose four corners are right: across the
    /// keys, a barrel (each half moved one way, the ends and the middle in place) and a
    /// finer wave; along them, the front edge bowed.
    lens_x: f32,
    lens_x2: f32,
    lens_y: f32,
    /// JPEG quality of a lossy compression of each frame (0: none).
    quality: u8,
    /// A gain for each column: light across the keyboard.
    light: Vec<f32>,
    /// Specular glare of the room's lights on glossy keys.
    glares: Vec<Glare>,
    seed: u32,
}

/// A band of reflected light on the keys, fixed to the camera: bright (up to white) where the
/// keys show, and nothing on a hand in front of them, which is matte and blocks it.
#[derive(Clone, Debug)]
struct Glare {
    /// Column of the band's middle and half its width.
    x: f32,
    half_width: f32,
    /// Rows where it starts and ends (with soft edges).
    top: f32,
    bottom: f32,
    /// Luma added at its middle.
    strength: f32,
}

impl Glare {
    fn random(rng: &mut Rng) -> Glare {
        let top = rng.range(0.0, 0.35) * HEIGHT as f32;
        Glare {
            x: rng.range(0.0, WIDTH as f32),
            half_width: rng.range(3.0, 20.0),
            top,
            bottom: top + rng.range(0.35, 1.0) * HEIGHT as f32,
            strength: rng.range(40.0, 170.0),
        }
    }

    /// Luma added at (x, y) of a key surface.
    fn at(&self, x: usize, y: usize) -> f32 {
        let u = (x as f32 - self.x) / self.half_width;
        if u.abs() > 2.5 {
            return 0.0;
        }
        // A flat top with soft sides across, soft ends along.
        let across = (-(u * u) * (u * u)).exp();
        let y = y as f32;
        let along =
            ((y - self.top) / 8.0).clamp(0.0, 1.0) * ((self.bottom - y) / 8.0).clamp(0.0, 1.0);
        self.strength * across * along
    }
}

/// A value drawn from `lo..hi` with probability `p` when `on`, else 0 (no draw when off, so
/// that each change leaves the others' draws as they were).
fn sometimes(rng: &mut Rng, on: bool, p: f32, lo: f32, hi: f32) -> f32 {
    if on && rng.chance(p) {
        rng.range(lo, hi)
    } else {
        0.0
    }
}

impl Params {
    fn random(rng: &mut Rng, what: Augment) -> Params {
        let keys = what.keys;
        let light = light_across(rng);
        let glares = if keys && rng.chance(0.4) {
            let n = if rng.chance(0.3) { 2 } else { 1 };
            (0..n).map(|_| Glare::random(rng)).collect()
        } else {
            Vec::new()
        };
        Params {
            dx: rng.range(-what.max_shift, what.max_shift),
            dy: rng.range(-6.0, 6.0),
            sx: 1.0 + rng.range(-what.max_scale, what.max_scale),
            sy: 1.0 + rng.range(-0.08, 0.08),
            bow: sometimes(rng, keys, 0.5, -6.0, 6.0),
            shear: sometimes(rng, keys, 0.5, -4.0, 4.0),
            gain: rng.range(0.7, 1.25),
            contrast: rng.range(0.7, 1.3),
            gamma: rng.range(0.75, 1.3),
            noise: rng.range(0.0, 8.0),
            blur: rng.int(0, 3),
            sharpen: sometimes(rng, what.sharpen, 0.4, 0.3, 1.5),
            shadow: sometimes(rng, what.glare_shadow, 0.6, 4.0, 40.0),
            lens_x: sometimes(rng, what.camera, 0.5, -3.0, 3.0),
            lens_x2: sometimes(rng, what.camera, 0.3, -1.5, 1.5),
            lens_y: sometimes(rng, what.camera, 0.5, -4.0, 4.0),
            quality: if what.camera && rng.chance(0.4) {
                rng.int(15, 71) as u8
            } else {
                0
            },
            light,
            glares,
            seed: rng.next_u64() as u32,
        }
    }

    /// Neither moved nor relit: the window as it is (tests add one change at a time).
    #[cfg(test)]
    fn identity() -> Params {
        Params {
            dx: 0.0,
            dy: 0.0,
            sx: 1.0,
            sy: 1.0,
            bow: 0.0,
            shear: 0.0,
            gain: 1.0,
            contrast: 1.0,
            gamma: 1.0,
            noise: 0.0,
            blur: 0,
            sharpen: 0.0,
            shadow: 0.0,
            lens_x: 0.0,
            lens_x2: 0.0,
            lens_y: 0.0,
            quality: 0,
            light: vec![1.0; WIDTH],
            glares: Vec::new(),
            seed: 0,
        }
    }
}

/// A hand differs from the keys at rest by more than this (luma) where it blocks all glare;
/// by less than `OCCLUSION_FROM`, the keys show and take it all.
const OCCLUSION_FROM: f32 = 12.0;
const OCCLUSION_FULL: f32 = 40.0;

fn apply(window: &mut [u8], p: &Params) {
    let frames = window.len() / (WIDTH * HEIGHT);
    let mut lut = [0u8; 256];
    for (v, o) in lut.iter_mut().enumerate() {
        let x = (v as f32 / 255.0).powf(p.gamma);
        let x = ((x - 0.5) * p.contrast + 0.5) * p.gain;
        *o = (x * 255.0).round().clamp(0.0, 255.0) as u8;
    }
    // Where each output pixel comes from (the same for every frame of the window).
    use std::f32::consts::PI;
    // The lens's bend of each column: across the keys and (the front edge's bow) along them.
    let bend: Vec<(f32, f32)> = (0..WIDTH)
        .map(|x| {
            let u = x as f32 / (WIDTH - 1) as f32;
            (
                p.lens_x * (2.0 * PI * u).sin() + p.lens_x2 * (4.0 * PI * u).sin(),
                p.lens_y * (PI * u).sin(),
            )
        })
        .collect();
    let src: Vec<usize> = (0..HEIGHT)
        .flat_map(|y| {
            let along = y as f32 / (HEIGHT - 1) as f32;
            let bow = p.bow * (PI * along).sin();
            let ys = (y as f32 - HEIGHT as f32 / 2.0) * p.sy + HEIGHT as f32 / 2.0 + p.dy + bow;
            let shift = p.shear * (along - 0.5);
            let bend = &bend;
            (0..WIDTH).map(move |x| {
                let (bx, by) = bend[x];
                // The bow of the front edge fades to nothing at the keys' far end.
                let sy = ((ys + by * along).round() as isize).clamp(0, HEIGHT as isize - 1);
                let xs = (x as f32 - WIDTH as f32 / 2.0) * p.sx + WIDTH as f32 / 2.0 + p.dx + shift;
                sy as usize * WIDTH
                    + ((xs + bx).round() as isize).clamp(0, WIDTH as isize - 1) as usize
            })
        })
        .collect();
    let glare: Vec<f32> = if p.glares.is_empty() {
        Vec::new()
    } else {
        (0..HEIGHT)
            .flat_map(|y| (0..WIDTH).map(move |x| (x, y)))
            .map(|(x, y)| p.glares.iter().map(|g| g.at(x, y)).sum())
            .collect()
    };
    // The keyboard at rest, unchanged, tells keys from a hand for the glare.
    let rest = (frames > FRAMES).then(|| window[(frames - 1) * WIDTH * HEIGHT..].to_vec());
    let mut out = vec![0u8; WIDTH * HEIGHT];
    let mut hidden = vec![0f32; WIDTH * HEIGHT];
    for f in 0..frames {
        let frame = &mut window[f * WIDTH * HEIGHT..(f + 1) * WIDTH * HEIGHT];
        // How much of the glare a hand hides at each pixel: where it differs from the keys
        // at rest, and (with a shadow) fading out over `shadow` pixels beside it.
        if let (false, Some(r)) = (glare.is_empty(), rest.as_ref()) {
            for (i, h) in hidden.iter_mut().enumerate() {
                let d = (frame[src[i]] as f32 - r[src[i]] as f32).abs();
                *h = ((d - OCCLUSION_FROM) / (OCCLUSION_FULL - OCCLUSION_FROM)).clamp(0.0, 1.0);
            }
            if p.shadow > 0.0 {
                spread(&mut hidden, 1.0 / p.shadow);
            }
        }
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                let i = y * WIDTH + x;
                let s = src[i];
                let n = (hash3(x as u32, y as u32, p.seed.wrapping_add(f as u32)) - 0.5)
                    * 2.0
                    * p.noise;
                let mut v = lut[frame[s] as usize] as f32 * p.light[x] + n;
                if let Some(&g) = glare.get(i) {
                    let shown = if rest.is_some() { 1.0 - hidden[i] } else { 1.0 };
                    v += g * shown;
                }
                out[i] = v.clamp(0.0, 255.0) as u8;
            }
        }
        for _ in 0..p.blur {
            blur_121(&mut out);
        }
        if p.sharpen > 0.0 {
            let mut soft = out.clone();
            blur_121(&mut soft);
            for (o, s) in out.iter_mut().zip(&soft) {
                let v = *o as f32 + p.sharpen * (*o as f32 - *s as f32);
                *o = v.round().clamp(0.0, 255.0) as u8;
            }
        }
        if p.quality > 0 {
            // The keyboard at rest is a median of many compressed frames: milder.
            let q = if f >= FRAMES {
                p.quality.saturating_add(20)
            } else {
                p.quality
            };
            compress(&mut out, q);
        }
        frame.copy_from_slice(&out);
    }
}

/// A strip through a JPEG encoder and decoder at `quality` (1-100): blocks, ringing, lost
/// fine texture, as a lossy video codec leaves them. Left as it was if either step fails.
fn compress(img: &mut [u8], quality: u8) {
    use image::ImageDecoder;
    let mut coded = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut coded, quality);
    if image::ImageEncoder::write_image(
        encoder,
        img,
        WIDTH as u32,
        HEIGHT as u32,
        image::ExtendedColorType::L8,
    )
    .is_err()
    {
        return;
    }
    let Ok(decoder) = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(&coded)) else {
        return;
    };
    if decoder.dimensions() == (WIDTH as u32, HEIGHT as u32)
        && decoder.color_type() == image::ColorType::L8
    {
        let mut back = vec![0u8; img.len()];
        if decoder.read_image(&mut back).is_ok() {
            img.copy_from_slice(&back);
        }
    }
}

/// Dilates a strip-sized map with a cone: each value becomes the largest of `map[q] - k *
/// |p - q|` (city-block distance), in two passes along the rows and two along the columns.
fn spread(map: &mut [f32], k: f32) {
    for row in map.chunks_exact_mut(WIDTH) {
        for x in 1..WIDTH {
            row[x] = row[x].max(row[x - 1] - k);
        }
        for x in (0..WIDTH - 1).rev() {
            row[x] = row[x].max(row[x + 1] - k);
        }
    }
    for y in 1..HEIGHT {
        for x in 0..WIDTH {
            map[y * WIDTH + x] = map[y * WIDTH + x].max(map[(y - 1) * WIDTH + x] - k);
        }
    }
    for y in (0..HEIGHT - 1).rev() {
        for x in 0..WIDTH {
            map[y * WIDTH + x] = map[y * WIDTH + x].max(map[(y + 1) * WIDTH + x] - k);
        }
    }
}

/// A gain for each column of the strip: light falling off from one end to the other (up to
/// 15% each way) and, half the time, a glare or a shadow (up to +35% or -30%) a few octaves
/// wide somewhere along the keys.
fn light_across(rng: &mut Rng) -> Vec<f32> {
    let ramp = rng.range(-0.15, 0.15);
    let spot = if rng.chance(0.5) {
        Some((
            rng.range(0.0, WIDTH as f32),
            rng.range(40.0, 250.0),
            rng.range(-0.3, 0.35),
        ))
    } else {
        None
    };
    (0..WIDTH)
        .map(|x| {
            let u = x as f32 / WIDTH as f32 - 0.5;
            let s = spot.map_or(0.0, |(c, w, a)| {
                let d = (x as f32 - c) / w;
                a * (-d * d).exp()
            });
            (1.0 + ramp * 2.0 * u) * (1.0 + s)
        })
        .collect()
}

/// One pass of a separable [1, 2, 1] / 4 blur of a strip, edges repeated.
fn blur_121(img: &mut [u8]) {
    let mut tmp = vec![0u8; img.len()];
    for y in 0..HEIGHT {
        let row = &img[y * WIDTH..(y + 1) * WIDTH];
        for x in 0..WIDTH {
            let (l, r) = (
                row[x.saturating_sub(1)] as u16,
                row[(x + 1).min(WIDTH - 1)] as u16,
            );
            tmp[y * WIDTH + x] = ((l + 2 * row[x] as u16 + r + 2) / 4) as u8;
        }
    }
    for y in 0..HEIGHT {
        let (u, d) = (y.saturating_sub(1), (y + 1).min(HEIGHT - 1));
        for x in 0..WIDTH {
            let v = tmp[u * WIDTH + x] as u16
                + 2 * tmp[y * WIDTH + x] as u16
                + tmp[d * WIDTH + x] as u16;
            img[y * WIDTH + x] = ((v + 2) / 4) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: usize = WIDTH * HEIGHT;

    /// Five frames of keys at rest (luma 150) with a hand (luma 60) over columns 400..420 in
    /// the last two, then the keyboard at rest.
    fn window() -> Vec<u8> {
        let mut w = vec![150u8; (FRAMES + 1) * N];
        for f in 3..FRAMES {
            for y in 0..HEIGHT {
                w[f * N + y * WIDTH + 400..f * N + y * WIDTH + 420].fill(60);
            }
        }
        w
    }

    #[test]
    fn the_keyboard_layout_is_symmetric_about_d4() {
        let (a, b) = canonical_span(MIRROR_NOTE);
        let twice_axis = a + b;
        for n in LOWEST_NOTE..=(2 * MIRROR_NOTE - LOWEST_NOTE) {
            let (ma, mb) = canonical_span(2 * MIRROR_NOTE - n);
            let (na, nb) = canonical_span(n);
            assert!((twice_axis - nb - ma).abs() < 1e-5, "note {n}");
            assert!((twice_axis - na - mb).abs() < 1e-5, "note {n}");
        }
    }

    /// Columns of `note` in the strip, a pixel in from each edge.
    fn columns(note: u8) -> std::ops::Range<usize> {
        let (a, b) = canonical_span(note);
        (a * WIDTH as f32).ceil() as usize + 1..(b * WIDTH as f32) as usize - 1
    }

    #[test]
    fn mirror_moves_a_key_and_its_labels_to_the_mirrored_note() {
        // C4 (60) dark in every frame and at rest, down and struck; everything weighted.
        let mut w = vec![150u8; (FRAMES + 1) * N];
        let (a, b) = canonical_span(60);
        let c4_all = (a * WIDTH as f32) as usize..(b * WIDTH as f32).ceil() as usize;
        for line in w.chunks_exact_mut(WIDTH) {
            line[c4_all.clone()].fill(20);
        }
        let c4 = (60 - LOWEST_NOTE) as usize;
        let mut target = vec![0.0; 2 * KEYS];
        target[c4] = 1.0;
        target[KEYS + c4] = 1.0;
        let mut mask = vec![1.0; 2 * KEYS];
        let (w0, t0) = (w.clone(), target.clone());
        mirror(&mut w, &mut target, &mut mask);
        // 124 - 60 = 64: E4 is dark now, C4 is not, in every plane.
        for line in w.chunks_exact(WIDTH) {
            assert!(line[columns(64)].iter().all(|&v| v == 20));
            assert!(line[columns(60)].iter().all(|&v| v == 150));
        }
        let e4 = (64 - LOWEST_NOTE) as usize;
        for half in [0, KEYS] {
            for k in 0..KEYS {
                assert_eq!(target[half + k], if k == e4 { 1.0 } else { 0.0 }, "key {k}");
            }
            // G#7..C8 (104..108) mirror to below A0: no label.
            for k in 0..KEYS {
                let expected = if k + LOWEST_NOTE as usize >= 104 {
                    0.0
                } else {
                    1.0
                };
                assert_eq!(mask[half + k], expected, "key {k}");
            }
        }
        // Twice is the picture and the labels back (but for the notes without a mirror).
        mirror(&mut w, &mut target, &mut mask);
        assert_eq!(target, t0);
        let inner = columns(21).start..columns(103).end;
        for (a, b) in w.chunks_exact(WIDTH).zip(w0.chunks_exact(WIDTH)) {
            assert_eq!(a[inner.clone()], b[inner.clone()]);
        }
    }

    #[test]
    fn augment_example_mirrors_about_half_the_examples_when_asked() {
        let what = Augment {
            mirror: true,
            ..Augment::BASIC
        };
        let mut rng = Rng::new(7);
        let mut mirrored = 0;
        for _ in 0..40 {
            let mut w = vec![150u8; (FRAMES + 1) * N];
            let mut target = vec![0.0; 2 * KEYS];
            target[(60 - LOWEST_NOTE) as usize] = 1.0;
            let mut mask = vec![1.0; 2 * KEYS];
            augment_example(&mut w, &mut target, &mut mask, &mut rng, what);
            if target[(64 - LOWEST_NOTE) as usize] == 1.0 {
                mirrored += 1;
            }
        }
        assert!((10..=30).contains(&mirrored), "{mirrored} of 40 mirrored");
        let mut target = vec![0.0; 2 * KEYS];
        target[(60 - LOWEST_NOTE) as usize] = 1.0;
        for _ in 0..20 {
            let mut w = vec![150u8; (FRAMES + 1) * N];
            let mut t = target.clone();
            let mut mask = vec![1.0; 2 * KEYS];
            augment_example(&mut w, &mut t, &mut mask, &mut rng, Augment::BASIC);
            assert_eq!(t, target, "never mirrored without --mirror");
        }
    }

    #[test]
    fn glare_lights_the_keys_at_rest_and_not_a_hand_over_them() {
        let mut w = window();
        let mut p = Params::identity();
        p.glares = vec![Glare {
            x: 410.0,
            half_width: 15.0,
            top: 0.0,
            bottom: HEIGHT as f32,
            strength: 250.0,
        }];
        apply(&mut w, &p);
        let at = |f: usize, x: usize| w[f * N + 50 * WIDTH + x];
        // Keys at rest in the band: white, in every frame and in the rest picture.
        for f in [0, 3, FRAMES] {
            assert_eq!(at(f, 422), 255, "frame {f}");
        }
        assert_eq!(at(0, 410), 255);
        // The hand blocks it; away from the band nothing changes.
        assert_eq!(at(3, 410), 60);
        assert_eq!(at(4, 410), 60);
        assert_eq!(at(0, 300), 150);
        assert_eq!(at(3, 300), 150);
    }

    #[test]
    fn glare_shadow_fades_the_glare_beside_a_hand_too() {
        let glare = Glare {
            x: 440.0,
            half_width: 40.0,
            top: 0.0,
            bottom: HEIGHT as f32,
            strength: 80.0,
        };
        let at = |w: &[u8], f: usize, x: usize| w[f * N + 50 * WIDTH + x];
        let mut p = Params::identity();
        p.glares = vec![glare];
        let mut plain = window();
        apply(&mut plain, &p);
        p.shadow = 20.0;
        let mut shaded = window();
        apply(&mut shaded, &p);
        // 10 pixels right of the hand (columns 400..420): lit without the shadow, half lit
        // with it; 30 pixels away, lit either way; under the hand, dark either way.
        let lit = at(&plain, 0, 430);
        assert!(lit > 225, "{lit}");
        assert_eq!(at(&plain, 3, 430), lit);
        assert!(
            (185..200).contains(&at(&shaded, 3, 430)),
            "{}",
            at(&shaded, 3, 430)
        );
        assert_eq!(at(&shaded, 3, 450), at(&plain, 3, 450));
        assert_eq!(at(&shaded, 3, 410), 60);
        // Frames without the hand and the rest picture keep all of it.
        assert_eq!(at(&shaded, 0, 430), lit);
        assert_eq!(at(&shaded, FRAMES, 430), lit);
    }

    #[test]
    fn sharpen_steepens_an_edge_and_keeps_flat_parts() {
        let mut w = vec![100u8; FRAMES * N];
        for f in 0..FRAMES {
            for y in 0..HEIGHT {
                w[f * N + y * WIDTH + 450..f * N + (y + 1) * WIDTH].fill(160);
            }
        }
        let mut p = Params::identity();
        p.sharpen = 1.0;
        apply(&mut w, &p);
        let row = |x: usize| w[50 * WIDTH + x];
        assert_eq!(row(300), 100);
        assert_eq!(row(600), 160);
        assert!(
            row(449) < 100 && row(450) > 160,
            "{} {}",
            row(449),
            row(450)
        );
    }

    #[test]
    fn bow_moves_the_middle_of_the_keys_length_and_not_its_ends() {
        // A horizontal edge at row 50 (dark above, light below), on every frame.
        let mut w = vec![0u8; FRAMES * N];
        for f in 0..FRAMES {
            w[f * N + 50 * WIDTH..(f + 1) * N].fill(200);
        }
        let mut p = Params::identity();
        p.bow = 5.0;
        apply(&mut w, &p);
        // Rows now read from 5 pixels further down in the middle: the edge moves up by 5.
        let col = |y: usize| w[y * WIDTH + 300];
        assert_eq!(col(44), 0);
        assert_eq!(col(46), 200);
        assert_eq!(col(0), 0);
        assert_eq!(col(HEIGHT - 1), 200);
        // Identity leaves a window as it was.
        let mut v = window();
        apply(&mut v, &Params::identity());
        assert!(v == window(), "identity changed the window");
    }

    #[test]
    fn lens_bends_the_halves_of_the_keyboard_opposite_ways_and_keeps_its_corners() {
        // A vertical edge every 100 columns (dark left of it, light right).
        let mut w = vec![0u8; FRAMES * N];
        for f in 0..FRAMES {
            for y in 0..HEIGHT {
                for x in 0..WIDTH {
                    w[f * N + y * WIDTH + x] = if (x / 50) % 2 == 1 { 200 } else { 0 };
                }
            }
        }
        let edge = |w: &[u8], near: usize| {
            (near - 10..near + 10)
                .find(|&x| w[50 * WIDTH + x] == 0 && w[50 * WIDTH + x + 1] == 200)
                .unwrap_or(0)
        };
        let before = w.clone();
        let mut p = Params::identity();
        p.lens_x = 3.0;
        apply(&mut w, &p);
        // A quarter of the way along, columns read from 3 pixels to the right: the edge
        // moves left by 3; three quarters along, right by 3; the middle stays.
        assert_eq!(edge(&before, 250), 249);
        assert_eq!(edge(&w, 250), 246);
        assert_eq!(edge(&before, 650), 649);
        assert_eq!(edge(&w, 650), 652);
        assert_eq!(edge(&w, 450), 449);
    }

    #[test]
    fn compression_changes_texture_and_keeps_the_picture() {
        let mut w = window();
        // Fine texture on the keys: a checkerboard of +-10.
        for (i, v) in w.iter_mut().enumerate() {
            if (i + i / WIDTH).is_multiple_of(2) {
                *v = v.saturating_add(10);
            }
        }
        let before = w.clone();
        let mut p = Params::identity();
        p.quality = 15;
        apply(&mut w, &p);
        let diff: f64 = w
            .iter()
            .zip(&before)
            .map(|(&a, &b)| (a as f64 - b as f64).abs())
            .sum::<f64>()
            / w.len() as f64;
        assert!(diff > 2.0 && diff < 20.0, "mean change {diff}");
        // The hand stays dark and the keys light.
        assert!(w[3 * N + 50 * WIDTH + 410] < 90);
        assert!(w[3 * N + 50 * WIDTH + 300] > 130);
    }

    #[test]
    fn random_changes_keep_the_window_size_and_stay_near_the_picture() {
        let mut rng = Rng::new(7);
        for _ in 0..20 {
            let mut w = window();
            augment(
                &mut w,
                &mut rng,
                Augment {
                    keys: true,
                    camera: true,
                    ..Augment::BASIC
                },
            );
            assert_eq!(w.len(), (FRAMES + 1) * N);
            let mean = w.iter().map(|&v| v as f64).sum::<f64>() / w.len() as f64;
            assert!((40.0..250.0).contains(&mean), "mean {mean}");
        }
    }

    #[test]
    fn crop_shift_stays_within_max_shift_and_uses_it() {
        let mut rng = Rng::new(3);
        let tight = Augment {
            max_shift: 3.0,
            ..Augment::BASIC
        };
        let dx: Vec<f32> = (0..500)
            .map(|_| Params::random(&mut rng, tight).dx)
            .collect();
        assert!(dx.iter().all(|d| d.abs() <= 3.0));
        assert!(dx.iter().any(|d| d.abs() > 2.5));
        let wide: Vec<f32> = (0..500)
            .map(|_| Params::random(&mut rng, Augment::BASIC).dx)
            .collect();
        assert!(wide.iter().any(|d| d.abs() > 6.0));
    }
}
