// SPDX-License-Identifier: MPL-2.0
//! The domain in plain Rust: no GStreamer, GLib or tensor types. Elements adapt buffers to these.

pub mod align;
pub mod clip;
pub mod dataset;
pub mod geometry;
pub mod keyboard;
pub mod keyfind;
pub mod metrics;
pub mod midi;
pub mod music;
pub mod notes;
pub mod overlay;
pub mod picture;
pub mod refine;
pub mod rest;
pub mod roll;
pub mod sim;
pub mod soundfont;
pub mod strip;
pub mod synth;
pub mod transcribe;
