// SPDX-License-Identifier: MPL-2.0
//! Resampling a found keyboard to the canonical strip.

use super::GrayImage;
use crate::core::geometry::Homography;
use crate::core::keyboard::Keyboard;

/// Luma of the canonical strip where the instrument has no keys.
pub const PAD: u8 = 16;

/// Precomputed resampling from a frame to the canonical strip (fixed point bilinear).
#[derive(Clone, Debug)]
pub struct Rectifier {
    out_w: usize,
    out_h: usize,
    /// Per output pixel: source offset of the top-left neighbour, and the 8-bit weights
    /// (fx, fy); `u32::MAX` for padding.
    map: Vec<(u32, u8, u8)>,
    src_w: usize,
    src_h: usize,
    src_stride: usize,
}

impl Rectifier {
    /// A map for frames of `src_w` x `src_h` (row stride `src_stride`) whose keyboard of type
    /// `keyboard` has `corners`, into an `out_w` x `out_h` canonical 88-key strip.
    pub fn new(
        corners: &[[f64; 2]; 4],
        keyboard: Keyboard,
        (src_w, src_h, src_stride): (usize, usize, usize),
        out_w: usize,
        out_h: usize,
    ) -> Option<Rectifier> {
        if src_w < 2 || src_h < 2 || out_w == 0 || out_h == 0 {
            return None;
        }
        let h = Homography::from_unit_square(corners)?;
        let (l, r) = keyboard.canonical_extent();
        let (l, r) = (l as f64, r as f64);
        let mut map = Vec::with_capacity(out_w * out_h);
        for y in 0..out_h {
            let v = (y as f64 + 0.5) / out_h as f64;
            for x in 0..out_w {
                let c = (x as f64 + 0.5) / out_w as f64;
                if c < l || c > r {
                    map.push((u32::MAX, 0, 0));
                    continue;
                }
                let u = (c - l) / (r - l);
                let [sx, sy] = h.apply([u, v]);
                let (sx, sy) = (sx - 0.5, sy - 0.5);
                if !(sx >= 0.0 && sy >= 0.0 && sx < (src_w - 1) as f64 && sy < (src_h - 1) as f64) {
                    map.push((u32::MAX, 0, 0));
                    continue;
                }
                let (x0, y0) = (sx as usize, sy as usize);
                let fx = ((sx - x0 as f64) * 256.0).min(255.0) as u8;
                let fy = ((sy - y0 as f64) * 256.0).min(255.0) as u8;
                map.push(((y0 * src_stride + x0) as u32, fx, fy));
            }
        }
        Some(Rectifier {
            out_w,
            out_h,
            map,
            src_w,
            src_h,
            src_stride,
        })
    }

    /// Whether this map was made for frames of this geometry.
    pub fn fits(&self, img: &GrayImage) -> bool {
        img.width == self.src_w && img.height == self.src_h && img.stride == self.src_stride
    }

    pub fn out_size(&self) -> (usize, usize) {
        (self.out_w, self.out_h)
    }

    /// Fill `out` (`out_w * out_h` bytes, rows packed) from `img`.
    pub fn rectify(&self, img: &GrayImage, out: &mut [u8]) {
        let s = self.src_stride;
        let d = img.data;
        for (o, &(off, fx, fy)) in out.iter_mut().zip(&self.map) {
            if off == u32::MAX {
                *o = PAD;
                continue;
            }
            let i = off as usize;
            let (fx, fy) = (fx as u32, fy as u32);
            let top = d[i] as u32 * (256 - fx) + d[i + 1] as u32 * fx;
            let bot = d[i + s] as u32 * (256 - fx) + d[i + s + 1] as u32 * fx;
            *o = ((top * (256 - fy) + bot * fy + (1 << 15)) >> 16) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keyboard::Keyboard;
    use crate::core::keyboard::PIANO_88;

    #[test]
    fn rectifier_maps_the_quad_and_pads_missing_keys() {
        // A 100x40 image: left half 50, right half 200.
        let mut data = vec![50u8; 100 * 40];
        for y in 0..40 {
            for x in 50..100 {
                data[y * 100 + x] = 200;
            }
        }
        let img = GrayImage {
            data: &data,
            width: 100,
            height: 40,
            stride: 100,
        };
        let corners = [[0.0, 0.0], [100.0, 0.0], [100.0, 40.0], [0.0, 40.0]];
        let r = Rectifier::new(&corners, PIANO_88, (100, 40, 100), 20, 4).unwrap();
        let mut out = vec![0u8; 80];
        r.rectify(&img, &mut out);
        assert!(out[..8].iter().all(|&v| v == 50) && out[12..20].iter().all(|&v| v == 200));
        // A 61-key keyboard fills only its part of the strip.
        let k61 = Keyboard::standard(61).unwrap();
        let r = Rectifier::new(&corners, k61, (100, 40, 100), 52, 2).unwrap();
        let mut out = vec![0u8; 104];
        r.rectify(&img, &mut out);
        assert_eq!(out[0], PAD);
        assert_eq!(out[51], PAD);
        assert_eq!(out[20], 50);
        assert!(r.fits(&img));
    }
}
