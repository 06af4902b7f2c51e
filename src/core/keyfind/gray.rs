// SPDX-License-Identifier: MPL-2.0
//! Luma pictures the keyboard is looked for in.

/// BT.601 luma of one RGB pixel (integer weights 77, 150, 29).
#[inline]
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((77 * r as u32 + 150 * g as u32 + 29 * b as u32) >> 8) as u8
}

/// Luma of packed RGBA pixels.
pub fn luma_rgba(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks_exact(4)
        .map(|p| luma(p[0], p[1], p[2]))
        .collect()
}

/// A borrowed 8-bit luma image.
#[derive(Clone, Copy, Debug)]
pub struct GrayImage<'a> {
    pub data: &'a [u8],
    pub width: usize,
    pub height: usize,
    pub stride: usize,
}

impl GrayImage<'_> {
    #[inline]
    pub fn at(&self, x: usize, y: usize) -> u8 {
        self.data[y * self.stride + x]
    }

    pub fn is_valid(&self) -> bool {
        self.width > 0
            && self.height > 0
            && self.stride >= self.width
            && self.data.len() >= (self.height - 1) * self.stride + self.width
    }
}
