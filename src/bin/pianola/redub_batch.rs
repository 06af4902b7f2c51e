// SPDX-License-Identifier: MPL-2.0
//! `pianola redub VIDEOS_OR_FOLDERS... --out-dir D`: many videos, each to D/<name>.<format>,
//! `--jobs` of them at once, one progress line for all, a failed video reported and the
//! others going on, and a second run skipping what the first finished.
//!
//! Jobs are threads of this process, each running its own re-dub pipeline (the pipelines
//! share nothing but libtorch). libtorch's CPU thread count is process-wide, so every job's
//! video2roll asks for the same share: the cores divided by the jobs running.
//!
//! Outputs are written as by the single-file form (`outputs.rs`): to a hidden temporary file
//! renamed only when the video's whole run succeeded. So an output that is there is
//! complete, and a video whose outputs are all there, and newer than it, is done.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

use crate::chain::{Redub, RedubOptions, Summary};
use crate::redub::{RedubArgs, cli_advice, common_options};
use crate::redub_scan::{Video, plan};

/// What became of one video.
enum Outcome {
    Done(Summary, Duration),
    Failed(String),
}

pub fn run(a: &RedubArgs) -> Result<()> {
    let started = Instant::now();
    let out_dir = a
        .out_dir
        .as_deref()
        .ok_or_else(|| anyhow!("no --out-dir"))?;
    if !a.output.is_empty() || a.midi.is_some() || a.roll_png.is_some() {
        return Err(anyhow!(
            "with --out-dir each video's outputs are named after it: choose them with --formats \
             (e.g. --formats mp4,mid,png) instead of -o, --midi and --roll-png"
        ));
    }
    let videos = plan(a, out_dir)?;
    let (skipped, todo): (Vec<&Video>, Vec<&Video>) =
        videos.iter().partition(|v| !a.force && v.is_done());
    if !a.quiet {
        for v in &skipped {
            println!(
                "skipped {}: {} is there (--force to redo)",
                v.input.display(),
                v.outputs[0].1.display()
            );
        }
    }
    let jobs = (a.jobs as usize).min(todo.len()).max(1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // One job: all cores but one, as the element does alone (decoding needs a core; with
    // every core libtorch's threads wait on each other). More: the cores shared out.
    let threads = if jobs == 1 {
        gstpianola::model::all_cores_but_one()
    } else {
        (cores / jobs).max(1)
    } as u32;
    let outcomes = run_jobs(a, &todo, jobs, threads)?;
    let failed: Vec<(&Video, &String)> = todo
        .iter()
        .zip(&outcomes)
        .filter_map(|(v, o)| match o {
            Outcome::Failed(why) => Some((*v, why)),
            Outcome::Done(..) => None,
        })
        .collect();
    if !a.quiet {
        for (v, why) in &failed {
            println!("failed  {}: {why}", v.input.display());
        }
        let how = if todo.is_empty() {
            String::new()
        } else {
            let s = if threads == 1 { "" } else { "s" };
            format!(" ({jobs} at once, {threads} libtorch thread{s} each)")
        };
        println!(
            "{}: {} done, {} failed, {} skipped, in {:.1} s{how}",
            count(videos.len()),
            todo.len() - failed.len(),
            failed.len(),
            skipped.len(),
            started.elapsed().as_secs_f64()
        );
    }
    if failed.is_empty() {
        Ok(())
    } else {
        let names: Vec<String> = failed
            .iter()
            .map(|(v, _)| v.input.display().to_string())
            .collect();
        Err(anyhow!(
            "{} of {} failed ({}); the others are in {}, and a second run tries only what is not done",
            failed.len(),
            count(videos.len()),
            names.join(", "),
            out_dir.display()
        ))
    }
}

/// Re-dub `todo` on `jobs` threads, one progress line for all; the outcome of each video.
fn run_jobs(a: &RedubArgs, todo: &[&Video], jobs: usize, threads: u32) -> Result<Vec<Outcome>> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    const SCALE: f64 = 1000.0;
    let bar = if a.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(
            Some(todo.len() as u64 * SCALE as u64),
            ProgressDrawTarget::stderr(),
        )
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:24} {percent:>3}% ETA {eta} {wide_msg}",
        )?
        .progress_chars("=> "),
    );
    // Videos being re-dubbed: index -> share done.
    let running: Mutex<BTreeMap<usize, f64>> = Mutex::new(BTreeMap::new());
    let next = AtomicUsize::new(0);
    let mut outcomes: Vec<Option<Outcome>> = todo.iter().map(|_| None).collect();
    let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (running, next) = (&running, &next);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(v) = todo.get(i) else { break };
                    set_share(running, i, Some(0.0));
                    let outcome =
                        redub_one(a, v, threads, |share| set_share(running, i, Some(share)));
                    set_share(running, i, None);
                    if tx.send((i, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let (mut done, mut failed) = (0usize, 0usize);
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok((i, outcome)) => {
                    let name = todo[i].input.display();
                    match &outcome {
                        Outcome::Done(summary, took) => {
                            done += 1;
                            if !a.quiet {
                                bar.suspend(|| {
                                    println!(
                                        "done    {name}: {} frames, {} notes, {:.1} s",
                                        summary.frames,
                                        summary.notes,
                                        took.as_secs_f64()
                                    )
                                });
                            }
                        }
                        Outcome::Failed(why) => {
                            failed += 1;
                            bar.suspend(|| eprintln!("pianola: {name} failed: {why}"));
                        }
                    }
                    outcomes[i] = Some(outcome);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            let shares = running.lock().map(|r| r.clone()).unwrap_or_default();
            let finished = (done + failed) as f64;
            bar.set_position(((finished + shares.values().sum::<f64>()) * SCALE) as u64);
            let now: Vec<String> = shares
                .iter()
                .map(|(i, share)| format!("{} {:.0}%", file_name(&todo[*i].input), share * 100.0))
                .collect();
            let failures = if failed > 0 {
                format!(" ({failed} failed)")
            } else {
                String::new()
            };
            bar.set_message(format!(
                "{}/{}{failures} {}",
                done + failed,
                todo.len(),
                now.join(" ")
            ));
        }
    });
    bar.finish_and_clear();
    outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| anyhow!("a job ended without saying how its video went")))
        .collect()
}

/// Record how far video `i` is (None: not running).
fn set_share(running: &Mutex<BTreeMap<usize, f64>>, i: usize, share: Option<f64>) {
    if let Ok(mut r) = running.lock() {
        match share {
            Some(s) => r.insert(i, s.clamp(0.0, 1.0)),
            None => r.remove(&i),
        };
    }
}

/// "1 video", "3 videos".
fn count(n: usize) -> String {
    format!("{n} video{}", if n == 1 { "" } else { "s" })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// One video, as the single-file form re-dubs it; a panic is a failure of this video only.
fn redub_one(a: &RedubArgs, v: &Video, threads: u32, mut share: impl FnMut(f64)) -> Outcome {
    let started = Instant::now();
    let run = std::panic::AssertUnwindSafe(|| -> Result<Summary> {
        let mut o = RedubOptions {
            threads,
            ..common_options(a, &v.input)?
        };
        for (format, out) in &v.outputs {
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    anyhow!(
                        "cannot make the folder {} ({e}); choose a writable --out-dir",
                        dir.display()
                    )
                })?;
            }
            let slot = match format.as_str() {
                "wav" => &mut o.wav_out,
                "mid" => &mut o.midi_out,
                "png" => &mut o.roll_png,
                _ => &mut o.video_out,
            };
            *slot = Some(out.clone());
        }
        Redub::new(o)?.run(|p| {
            if let (Some(pos), Some(d)) = (p.position, p.duration.filter(|d| *d > 0)) {
                share(pos as f64 / d as f64);
            }
        })
    });
    match std::panic::catch_unwind(run) {
        Ok(Ok(summary)) => Outcome::Done(summary, started.elapsed()),
        Ok(Err(e)) => Outcome::Failed(one_line(&format!("{:#}", cli_advice(e)))),
        Err(panic) => Outcome::Failed(format!(
            "internal error: {}",
            panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default()
        )),
    }
}

fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
