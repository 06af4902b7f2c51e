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

/// Play `pipeline` to its end, calling `tick` about ten times a second until then (and
/// `check`, which may stop the run with an error found outside the bus). A pipeline that
/// fails to start reports the error its element posted, not the state change.
pub fn run_with(
    pipeline: &gst::Pipeline,
    mut tick: impl FnMut(&gst::Pipeline),
    check: impl Fn() -> Option<String>,
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
    while result.is_ok() {
        if let Some(e) = check() {
            result = Err(anyhow!(e));
            break;
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            tick(pipeline);
            continue;
        };
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
