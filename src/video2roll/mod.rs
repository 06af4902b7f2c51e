// SPDX-License-Identifier: MPL-2.0
//! `video2roll`: per-frame pressed-key probabilities from the canonical keyboard strip.
//!
//! Takes pianocrop's `GRAY8` 900x100 strip and outputs `application/x-piano-roll`
//! probabilities (`F32LE`, 88 keys from A0, a frame channel and, for nets with an onset
//! head, an onset channel), one buffer per video frame with that frame's PTS and duration.
//! Each prediction looks at frames t-2..t+2 (edge frames repeated at the start and end), so the
//! element holds back two frames, plus `batch-size - 1` more while it fills a batch; it reports
//! that as latency, and flush and EOS emit every pending frame. The nets were trained on
//! video of 20 to 30 frames/s: on a faster video the window takes every Nth frame (N =
//! round(fps / `window-rate`), 2 at 50 and 60 frames/s with the default 25), t-2N..t+2N, so
//! it spans the same time and holds back 2N frames; `window-rate=0` takes every frame.
//!
//! Nets that also look at the keyboard at rest (`keycolumn-rest`, the shipped one) get it
//! from the video itself, causally: the per-pixel median of one strip in 8, the last 125
//! sampled, leaving out pianocrop's gap frames (see `core::rest`). The estimate starts again
//! on a new stream, a flush, a new segment and when pianocrop moves its lock, so a seek, a
//! loop or a moved camera never mixes two keyboards.
//!
//! The net runs through libtorch on the CPU or, when present, CUDA (`device`). The `model`
//! property names a `.safetensors` file with its `.json` sidecar; unset, the installed
//! default is looked up (`$PIANOLA_MODEL`, then `video2roll.safetensors` in
//! `$PIANOLA_MODEL_DIR`, in the `models/` of the source tree when the plugin is loaded from
//! its `target/`, then in `pianola/models/` under the XDG data dirs).
//!
//! ```text
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! pianocrop ! video2roll ! roll2midi ! midisynth ! wavenc ! filesink location=out.wav
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct Video2Roll(ObjectSubclass<imp::Video2Roll>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "video2roll",
        gst::Rank::NONE,
        Video2Roll::static_type(),
    )
}
