// SPDX-License-Identifier: MPL-2.0
//! What the re-dub pipeline's two roll appsinks keep: frames and notes counted, video2roll's
//! probabilities and roll2midi's decisions by stream time, for the summary and the picture.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, anyhow};
use gst::prelude::*;
use gstpianola::caps;
use gstpianola::core::notes::{NoteEvent, frame_transitions};
use gstpianola::core::picture;
use gstpianola::core::roll::{AnyFrame, ProbFrame, VelocityFrame};

use crate::render::stream_time;

/// Shared between the appsinks' streaming threads and the run.
#[derive(Default)]
pub struct Rolls {
    pub frames: AtomicU64,
    /// Stream time reached (ns); u64::MAX before the first frame.
    pub position: AtomicU64,
    pub notes: AtomicU64,
    /// Whether the video stream was copied (None: no video output yet linked).
    pub video_copied: Mutex<Option<bool>>,
    /// (stream time, key-down probabilities) from video2roll.
    pub probs: Mutex<Vec<(u64, ProbFrame)>>,
    /// (stream time, decided frame) from roll2midi, for the picture.
    pub decided: Mutex<Vec<(u64, VelocityFrame)>>,
    /// First problem found while linking dynamic pads.
    pub link_error: Mutex<Option<String>>,
    /// What roll2midi and video2roll hold back (their latency answer, ns), and every queue
    /// that must hold that much more than its base time.
    pub lookahead: AtomicU64,
    pub queues: Mutex<Vec<(gst::Element, u64)>>,
}

impl Rolls {
    /// A queue of `base` ns that must also hold the look-ahead.
    pub fn hold(&self, queue: &gst::Element, base: u64) {
        queue.set_property(
            "max-size-time",
            base + self.lookahead.load(Ordering::SeqCst),
        );
        if let Ok(mut q) = self.queues.lock() {
            q.push((queue.clone(), base));
        }
    }

    /// The look-ahead is known: resize every queue.
    pub fn set_lookahead(&self, ns: u64) {
        self.lookahead.store(ns, Ordering::SeqCst);
        if let Ok(q) = self.queues.lock() {
            for (queue, base) in q.iter() {
                queue.set_property("max-size-time", base + ns);
            }
        }
    }

    pub fn new() -> Rolls {
        Rolls {
            position: AtomicU64::new(u64::MAX),
            ..Default::default()
        }
    }

    /// One frame of video2roll's probabilities.
    fn on_probs(&self, time: u64, frame: AnyFrame, keep: bool) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.position.store(time, Ordering::Relaxed);
        if keep && let Ok(mut v) = self.probs.lock() {
            v.push((time, frame.into_prob()));
        }
    }

    /// One frame of roll2midi's decisions: note-ons counted against the previous frame.
    fn on_notes(
        &self,
        time: u64,
        frame: AnyFrame,
        lowest: u8,
        prev: &mut Option<VelocityFrame>,
        keep: bool,
    ) {
        let v = frame.into_played();
        let layout = v.layout(lowest);
        let ons = frame_transitions(&layout, prev.as_ref(), &v, time)
            .iter()
            .filter(|e| matches!(e, NoteEvent::On { .. }))
            .count();
        *prev = Some(v.clone());
        self.notes.fetch_add(ons as u64, Ordering::Relaxed);
        if keep && let Ok(mut d) = self.decided.lock() {
            d.push((time, v));
        }
    }

    /// Draw the transcription: probabilities grey, decided notes amber.
    pub fn write_picture(&self, path: &Path) -> Result<()> {
        let probs = self.probs.lock().map_err(|_| anyhow!("lock"))?;
        let decided = self.decided.lock().map_err(|_| anyhow!("lock"))?;
        let keys = probs.first().map(|p| p.1.keys()).unwrap_or(88);
        // Decisions keep their frame's time: line them up by it.
        let mut notes: Vec<Option<VelocityFrame>> = vec![None; probs.len()];
        let mut j = 0;
        for (t, v) in decided.iter() {
            while j < probs.len() && probs[j].0 < *t {
                j += 1;
            }
            if j < probs.len() && probs[j].0 == *t {
                notes[j] = Some(v.clone());
            }
        }
        let rows: Vec<Vec<f32>> = probs.iter().map(|p| p.1.frame.clone()).collect();
        let pic = picture::transcription(&rows, &notes, keys, 3)
            .map_err(|e| anyhow!("roll picture: {e}"))?;
        std::fs::write(path, pic.encode_png()?)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

/// Feed `sink`'s roll frames to `rolls`: probabilities (`probs`) or decisions.
pub fn watch(sink: &gst_app::AppSink, rolls: std::sync::Arc<Rolls>, probs: bool, keep: bool) {
    let prev: Mutex<Option<VelocityFrame>> = Mutex::new(None);
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let (Some(b), Some(c)) = (sample.buffer(), sample.caps()) else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                let time = stream_time(&sample, b);
                let Ok((layout, _)) = caps::parse_roll_caps(c) else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                let m = b.map_readable().map_err(|_| gst::FlowError::Error)?;
                let Ok(frame) = AnyFrame::from_bytes(&layout, &m) else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                if probs {
                    rolls.on_probs(time, frame, keep);
                } else {
                    let mut prev = prev.lock().map_err(|_| gst::FlowError::Error)?;
                    rolls.on_notes(time, frame, layout.lowest_note, &mut prev, keep);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
}
