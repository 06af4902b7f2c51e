// SPDX-License-Identifier: MPL-2.0
//! Pianola: GStreamer elements that give a silent piano video its music back.
//!
//! - `pianocrop`: finds the keyboard in a top-view video and rectifies it to the canonical
//!   88-key strip
//! - `video2roll`: per video frame, the probability that each of the 88 keys is down (and
//!   struck), from a libtorch model
//! - `roll2midi`: key probabilities to notes (rolls or MIDI events)
//! - `midisynth`: notes to audio with a SoundFont
//! - `midienc`: notes to a Standard MIDI File
//! - `pianosim`: a MIDI file rendered as a top-view piano video with its true key states
//!
//! `caps` names every caps and field; `core` holds the domain in plain Rust; `model` is the
//! only place that touches tensors (loading, inference and, with the `train` feature, the
//! training loops). The `pianola` command-line workbench (feature `cli`) lives in
//! `src/bin/pianola/`.

use gst::glib;

pub mod caps;
pub mod core;
mod latency;
mod loading;
mod midienc;
mod midisynth;
pub mod model;
mod pianocrop;
mod pianosim;
mod roll2midi;
mod video2roll;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // Where the default models are looked for depends on where the plugin lives (its build
    // tree's models/); registered statically, it lives in the executable.
    if let Some(file) = plugin.filename().or_else(|| std::env::current_exe().ok()) {
        model::set_module_file(file);
    }
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
    env!("PIANOLA_ORIGIN"),
    env!("BUILD_REL_DATE")
);
