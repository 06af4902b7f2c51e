// SPDX-License-Identifier: MPL-2.0
//! `mode=learned`: the refiner, loaded in `start()`, and the windows it refines.

use gst::subclass::prelude::*;

use super::{CAT, Mode, Roll2Midi, Settings, State, WARM_UP_PASSES};
use crate::core::refine::{WindowPlan, Windowed};
use crate::core::roll::{ProbFrame, RollLayout};
use crate::core::transcribe::{FrameTime, TrackedFrame};
use crate::model::refiner::Refiner;

/// Where the default refiner is looked for, in order.
fn default_refiner_paths() -> Vec<std::path::PathBuf> {
    crate::model::search_paths("PIANOLA_REFINER", "roll2midi.safetensors")
}

impl Roll2Midi {
    /// Learned mode: load the refiner (READY -> PAUSED).
    pub(super) fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings();
        if s.mode != Mode::Learned {
            *self.refiner() = None;
            return Ok(());
        }
        let (path, r) = crate::loading::load(
            &s.device,
            s.refiner.as_deref(),
            default_refiner_paths(),
            |all| {
                format!(
                    "mode=learned needs a refiner and none was found (looked in {all:?}). Set the refiner property to a .safetensors file (train one with `pianola train-refiner`) or use mode=rule-based"
                )
            },
            "roll2midi refiner",
            Refiner::load,
        )?;
        let meta = r.meta();
        gst::info!(
            CAT,
            imp = self,
            "loaded refiner {} ({meta:?})",
            path.display()
        );
        let windows = [s.window as usize, s.live_window as usize];
        r.warm_up(&windows, WARM_UP_PASSES).map_err(|e| {
            crate::loading::warm_up_failed("roll2midi refiner", &path, "refiner", &e)
        })?;
        *self.refiner() = Some(r);
        Ok(())
    }

    /// Run `f` with the loaded refiner; an element error when there is none.
    pub(super) fn with_refiner<R>(
        &self,
        f: impl FnOnce(&Refiner) -> Result<R, crate::core::refine::RefineError>,
    ) -> Result<R, gst::FlowError> {
        let guard = self.refiner();
        let Some(r) = guard.as_ref() else {
            gst::element_imp_error!(self, gst::CoreError::StateChange, ("No refiner loaded"));
            return Err(gst::FlowError::Error);
        };
        f(r).map_err(|e| {
            gst::element_imp_error!(self, gst::LibraryError::Failed, ("Refiner: {e}"));
            gst::FlowError::Error
        })
    }

    /// Feed one probability frame through the refiner (learned mode) and the tracker.
    pub(super) fn track(
        &self,
        state: &mut State,
        frame: ProbFrame,
        time: FrameTime,
    ) -> Result<Vec<TrackedFrame>, gst::FlowError> {
        // Refined or not, frames reach the tracker in order, one for one.
        state.frames_in += 1;
        let Some(windows) = state.windows.as_mut() else {
            return self.push_tracker(state, vec![(time, frame)]);
        };
        let keys = state.in_layout.keys;
        let started = std::time::Instant::now();
        let mut passes = 0u32;
        let refined = self.with_refiner(|r| {
            let mut values = frame.frame;
            if r.meta().inputs == 2 {
                values.extend(frame.onset.unwrap_or_else(|| vec![0.0; keys]));
            }
            windows.push(values, time, &mut |w| {
                passes += 1;
                r.refine(w).map_err(|e| e.to_string())
            })
        })?;
        if passes > 0 && state.margin.observe(started.elapsed()) {
            state.margin_grew = true;
        }
        self.push_refined(state, refined)
    }

    /// Refined frames (key down, then onsets when the refiner gives them) into the tracker.
    pub(super) fn push_refined(
        &self,
        state: &mut State,
        refined: Vec<(FrameTime, Vec<f32>)>,
    ) -> Result<Vec<TrackedFrame>, gst::FlowError> {
        let keys = state.in_layout.keys;
        let frames = refined
            .into_iter()
            .map(|(time, mut v)| {
                let onset = (v.len() >= 2 * keys).then(|| v.split_off(keys));
                (time, ProbFrame { frame: v, onset })
            })
            .collect();
        self.push_tracker(state, frames)
    }

    /// Learned mode: check the refiner against the roll and plan the windows (the live window
    /// when upstream is live).
    pub(super) fn windows_for(
        &self,
        settings: &Settings,
        layout: &RollLayout,
        framerate: gst::Fraction,
    ) -> Result<Windowed<FrameTime>, gst::LoggableError> {
        let guard = self.refiner();
        let Some(r) = guard.as_ref() else {
            gst::element_imp_error!(
                self,
                gst::CoreError::StateChange,
                ("mode=learned but no refiner is loaded; set mode before going to PAUSED")
            );
            return Err(gst::loggable_error!(CAT, "no refiner"));
        };
        let m = r.meta();
        if m.keys != layout.keys || m.lowest_note != layout.lowest_note {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                (
                    "The refiner is for {} keys from MIDI note {}, the roll has {} from {}",
                    m.keys,
                    m.lowest_note,
                    layout.keys,
                    layout.lowest_note
                ),
                ["Use mode=rule-based, or a refiner trained for this keyboard"]
            );
            return Err(gst::loggable_error!(CAT, "refiner keys"));
        }
        let fps = framerate.numer() as f64 / framerate.denom().max(1) as f64;
        if fps > 0.0 && (fps / m.fps - 1.0).abs() > 0.25 {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Format,
                (
                    "The refiner was trained at {} frames/s and the roll runs at {fps:.2}; its timing will be off",
                    m.fps
                ),
                ["Use mode=rule-based for this frame rate, or train a refiner at it"]
            );
        }
        // Asked once, when the caps come.
        let live = crate::latency::upstream_is_live(&self.sinkpad);
        let window = if live {
            settings.live_window
        } else {
            settings.window
        };
        // Live: a window at every frame, so each frame in gives one frame out. Half-overlapping
        // windows give `window / 2` frames at once, and such a burst holds a synchronised
        // sink, and with it the whole streaming thread, for its length: a leaky queue before
        // it then drops frames.
        let plan = if live {
            WindowPlan::sliding(window as usize)
        } else {
            WindowPlan::half_overlap(window as usize)
        };
        gst::info!(CAT, imp = self, "live {live}: {plan:?}");
        Windowed::new(plan, m.inputs * layout.keys, m.outputs * layout.keys).map_err(|e| {
            gst::element_imp_error!(self, gst::LibraryError::Settings, ("{e}"));
            gst::loggable_error!(CAT, "bad window")
        })
    }
}
