// SPDX-License-Identifier: MPL-2.0
//! `pianosim`: renders a top-view piano video from a MIDI file, with its ground truth.
//!
//! Two source pads: `video` (RGBA frames of the rendered performance) and `roll` (the true
//! key state of every frame as an `application/x-piano-roll` velocity roll with an onset
//! channel, so `roll ! midienc` writes the aligned ground-truth MIDI). At start it posts an
//! element message `pianosim-keyboard` with the keyboard's corners in the image (`corners`,
//! x0,y0,..,x3,y3: top-left, top-right, bottom-right, bottom-left), `keys` and `lowest-note`.
//! Every random choice (instrument, room, hands, camera, light, noise; size and rate unless
//! set) comes from `seed`.
//!
//! ```text
//! gst-launch-1.0 pianosim location=song.mid seed=3 ! videoconvert ! x264enc ! mp4mux ! filesink location=song.mp4
//! gst-launch-1.0 pianosim name=s location=song.mid ! videoconvert ! autovideosink  s.roll ! midienc ! filesink location=truth.mid
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct PianoSim(ObjectSubclass<imp::PianoSim>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "pianosim",
        gst::Rank::NONE,
        PianoSim::static_type(),
    )
}
