// SPDX-License-Identifier: MPL-2.0
//! `midisynth`: notes to audio with a SoundFont.
//!
//! Takes a piano roll (`application/x-piano-roll`, velocities or probabilities, the latter
//! binarised at 0.5 with velocity 100) or MIDI events (`audio/x-midi-event`, as midiparse and
//! roll2midi send them) and renders interleaved stereo F32 audio at the negotiated rate
//! (44100 Hz unless downstream wants another; 16000..192000 work). Timing follows the input
//! timestamps without drift; at end of stream the release and reverb tail is rendered too
//! (up to `max-tail`), which fluiddec cuts off. The stop of the segment it forwards is moved
//! on by `max-tail`, so audioresample, encoders and sinks keep that tail too.
//!
//! The `program` property plays the notes with any General MIDI instrument (Audeo's timbre
//! transfer). The SoundFont is looked up like fluiddec does when `soundfont` is not set:
//! `sounds/sf2` and `soundfonts` under the XDG data dirs (Debian: `apt install
//! fluid-soundfont-gm`).
//!
//! ```text
//! gst-launch-1.0 filesrc location=song.mid ! midiparse ! midisynth program=0 ! audioconvert ! autoaudiosink
//! gst-launch-1.0 filesrc location=song.mid ! midiparse ! midisynth ! wavenc ! filesink location=song.wav
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct MidiSynth(ObjectSubclass<imp::MidiSynth>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "midisynth",
        gst::Rank::NONE,
        MidiSynth::static_type(),
    )
}
