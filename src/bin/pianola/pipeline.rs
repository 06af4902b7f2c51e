// SPDX-License-Identifier: MPL-2.0
//! Running whole pipelines for the CLI: one bus loop for every job, errors as one line
//! naming the element and what it said.

use anyhow::{Result, anyhow};
use gst::prelude::*;

/// Parse `desc` and find its appsink called `name`.
pub fn launch_with_appsink(desc: &str, name: &str) -> Result<(gst::Pipeline, gst_app::AppSink)> {
    let pipeline = gst::parse::launch(desc)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("not a pipeline"))?;
    let sink = pipeline
        .by_name(name)
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| anyhow!("no appsink called {name}"))?;
    Ok((pipeline, sink))
}

/// A bus error as one line: the element, its message (which says what to change) and the
/// last line of its debug text.
fn bus_error(e: &gst::message::Error) -> anyhow::Error {
    let from = e.src().map(|s| s.name().to_string()).unwrap_or_default();
    let detail = e
        .debug()
        .map(|d| {
            d.rsplit(":\n")
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .filter(|d| !d.is_empty() && !d.contains("Panicked") && d.lines().count() == 1)
        // Only GStreamer's source location ("gsttypefindelement.c(1186): ... /GstPipeline:..."),
        // nothing said: no use to the user.
        .filter(|d| !(d.contains(".c(") && d.contains("/GstPipeline:")))
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    anyhow!("{from}: {}{detail}", e.error())
}

/// How long a pipeline may go without its position moving (and without a message on its bus)
/// before the run stops with an error instead of waiting for ever:
/// `PIANOLA_STALL_SECONDS`, 180 unless set.
const STALL_SECONDS: u64 = 180;

fn stall_limit() -> std::time::Duration {
    let secs = std::env::var("PIANOLA_STALL_SECONDS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(STALL_SECONDS as f64);
    std::time::Duration::from_secs_f64(secs)
}

/// Whether a pipeline still moves: its position, or a message on its bus, within the limit.
struct Watchdog {
    limit: std::time::Duration,
    last_change: std::time::Instant,
    position: Option<gst::ClockTime>,
}

impl Watchdog {
    fn new(limit: std::time::Duration) -> Watchdog {
        Watchdog {
            limit,
            last_change: std::time::Instant::now(),
            position: None,
        }
    }

    fn moved(&mut self) {
        self.last_change = std::time::Instant::now();
    }

    /// An error when `pipeline`'s position has not moved for the limit.
    fn check(&mut self, pipeline: &gst::Pipeline) -> Option<anyhow::Error> {
        let position = pipeline.query_position::<gst::ClockTime>();
        if position != self.position {
            self.position = position;
            self.moved();
            return None;
        }
        let idle = self.last_change.elapsed();
        (idle >= self.limit).then(|| {
            let at = position.map_or("before the first frame".to_string(), |p| {
                format!("at {:.1} s of the stream", p.nseconds() as f64 / 1e9)
            });
            anyhow!(
                "the pipeline stalled: no progress for {:.0} s, {at}. Run it again; if it \
                 stalls again, report it with the output of GST_DEBUG=3 (PIANOLA_STALL_SECONDS \
                 sets how long to wait)",
                idle.as_secs_f64()
            )
        })
    }
}

/// Play `pipeline` to its end, calling `tick` about ten times a second until then (and
/// `check`, which may stop the run with an error found outside the bus). A pipeline that
/// fails to start reports the error its element posted, not the state change; one that
/// stops moving (no position change and no message for [`STALL_SECONDS`]) stops with an
/// error instead of waiting for ever.
pub fn run_with(
    pipeline: &gst::Pipeline,
    tick: impl FnMut(&gst::Pipeline),
    check: impl Fn() -> Option<String>,
) -> Result<()> {
    run_watched(pipeline, tick, check, stall_limit())
}

fn run_watched(
    pipeline: &gst::Pipeline,
    mut tick: impl FnMut(&gst::Pipeline),
    check: impl Fn() -> Option<String>,
    stall: std::time::Duration,
) -> Result<()> {
    let bus = pipeline
        .bus()
        .ok_or_else(|| anyhow!("pipeline has no bus"))?;
    let mut result = Ok(());
    if pipeline.set_state(gst::State::Playing).is_err() {
        result = Err(anyhow!(
            "could not start the pipeline (no element said why)"
        ));
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = msg.view() {
                result = Err(bus_error(e));
                break;
            }
        }
    }
    let mut watchdog = Watchdog::new(stall);
    let mut last_look = std::time::Instant::now();
    while result.is_ok() {
        if let Some(e) = check() {
            result = Err(anyhow!(e));
            break;
        }
        if last_look.elapsed() >= std::time::Duration::from_millis(500) {
            last_look = std::time::Instant::now();
            if let Some(e) = watchdog.check(pipeline) {
                result = Err(e);
                break;
            }
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            tick(pipeline);
            continue;
        };
        watchdog.moved();
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => result = Err(bus_error(e)),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null)?;
    result
}

/// Play `pipeline` to its end.
pub fn run_to_eos(pipeline: &gst::Pipeline) -> Result<()> {
    run_with(pipeline, |_| {}, || None)
}

/// At `dec`'s no-more-pads, an error on the bus saying `message` when nothing was linked to
/// `to`'s sink pad: the input has no stream of the kind `to` takes.
pub fn error_if_unlinked(dec: &gst::Element, to: &gst::Element, message: String) {
    let weak = to.downgrade();
    dec.connect_no_more_pads(move |dec| {
        if weak
            .upgrade()
            .and_then(|c| c.static_pad("sink"))
            .is_some_and(|p| !p.is_linked())
        {
            gst::element_error!(dec, gst::StreamError::WrongType, ("{}", message));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A live source whose every buffer is dropped: the pipeline plays and never moves, and
    /// the run ends with the stall error instead of waiting.
    #[test]
    fn a_pipeline_that_stops_moving_is_an_error_not_a_hang() {
        gst::init().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let p = gst::parse::launch("videotestsrc is-live=true ! valve drop=true ! fakesink")
                .unwrap()
                .downcast::<gst::Pipeline>()
                .unwrap();
            let limit = std::time::Duration::from_millis(1500);
            let _ = tx.send(run_watched(&p, |_| {}, || None, limit));
        });
        // Without the watchdog the run never ends: waited for 30 s at most.
        let result = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the stalled pipeline was still waiting after 30 s");
        let err = result.unwrap_err().to_string();
        assert!(err.contains("stalled"), "{err}");
        assert!(err.contains("before the first frame"), "{err}");
    }
}
