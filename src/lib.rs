// SPDX-License-Identifier: MPL-2.0
//! Pianola: GStreamer elements that give a silent piano video its music back.
//!
//! - `roll2midi`: key probabilities to notes (rolls or MIDI events)
//! - `midisynth`: notes to audio with a SoundFont
//! - `midienc`: notes to a Standard MIDI File
//!
//! `core` holds the domain in plain Rust; `model` is the only place that touches tensors.

use gst::glib;

pub mod caps;
pub mod core;
pub mod dataset;
mod latency;
mod loading;
mod midienc;
mod midisynth;
pub mod model;
mod pianocrop;
mod pianosim;
pub mod pipeline;
pub mod redub;
mod roll2midi;
mod video2roll;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    roll2midi::register(plugin)?;
    midisynth::register(plugin)?;
    midienc::register(plugin)?;
    pianosim::register(plugin)?;
    pianocrop::register(plugin)?;
    video2roll::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    pianola,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    "https://gstreamer.freedesktop.org",
    env!("BUILD_REL_DATE")
);
