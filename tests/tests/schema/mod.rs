//! Every parameter of every plugin is stated once, in `prism-shared`'s schemas
//! (`analyzer::schema`, `pitch::schema`, `split::schema`), and everything else agrees with
//! it: for every parameter of every plugin
//!
//! * the plugin's nice-plug parameter (read in-process through `Params::param_map`, the map
//!   the CLAP and VST3 wrappers expose): name, unit, range, taper, step, default and
//!   option names;
//! * the `prism` command's flag, where there is one (read from its clap `Command`): default,
//!   the range's ends accepted, values just outside rejected, every option id accepted;
//! * the processor's sanitiser: values beyond the range come back as its ends, non-finite
//!   ones as the default.
//!
//! Each plugin parameter must have a spec and each spec a plugin parameter.
//!
//! One test binary per plugin (`param_schema_{chroma,pitch,split}.rs`), because each
//! plugin library exports the same CLAP and VST3 entry points and two cannot link into one
//! binary; this module is what they share.

use std::sync::Arc;

use clap::CommandFactory;
use nice_plug::prelude::{ParamPtr, Params};
use prism_shared::params::{Spec, Taper};

/// A spec as a plugin states it: id and name prefixes (a Split stem strip's), and the spec.
pub struct Expected {
    id: String,
    name: String,
    spec: Spec,
}

pub fn expected(specs: &[Spec], prefixes: &[(&str, &str)]) -> Vec<Expected> {
    prefixes
        .iter()
        .flat_map(|&(id, name)| {
            specs.iter().map(move |&spec| Expected {
                id: if id.is_empty() {
                    spec.id().to_string()
                } else {
                    format!("{id}_{}", spec.id())
                },
                name: format!("{name}{}", spec.name()),
                spec,
            })
        })
        .collect()
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-4 * (1.0 + a.abs().max(b.abs()))
}

/// Compares one plugin's parameters with its schema; returns the mismatches.
pub fn check_plugin(plugin: &str, params: Arc<dyn Params>, want: &[Expected]) -> Vec<String> {
    let mut problems = Vec::new();
    let map = params.param_map();
    for (id, _, _) in &map {
        if !want.iter().any(|w| &w.id == id) {
            problems.push(format!("{plugin}: parameter {id:?} has no spec"));
        }
    }
    for w in want {
        let Some(&(_, ptr, _)) = map.iter().find(|(id, _, _)| *id == w.id) else {
            problems.push(format!("{plugin}: spec {:?} has no parameter", w.id));
            continue;
        };
        // SAFETY: `params` outlives `ptr`'s uses here.
        let problem = unsafe { check_param(ptr, w) };
        if let Err(e) = problem {
            problems.push(format!("{plugin}: {}: {e}", w.id));
        }
    }
    problems
}

/// # Safety
/// `ptr` must point into a live `Params` object.
unsafe fn check_param(ptr: ParamPtr, w: &Expected) -> Result<(), String> {
    let (name, lo, hi, default, steps) = unsafe {
        (
            ptr.name().to_string(),
            ptr.preview_plain(0.0),
            ptr.preview_plain(1.0),
            ptr.default_plain_value(),
            ptr.step_count(),
        )
    };
    if name != w.name {
        return Err(format!("name {name:?}, spec {:?}", w.name));
    }
    let range = |min: f32, max: f32| {
        if !close(lo, min) || !close(hi, max) {
            return Err(format!("range {lo}..{hi}, spec {min}..{max}"));
        }
        Ok(())
    };
    match w.spec {
        Spec::Float(s) => {
            range(s.min, s.max)?;
            if !close(default, s.default) {
                return Err(format!("default {default}, spec {}", s.default));
            }
            let unit = unsafe { ptr.unit() };
            if unit != s.unit {
                return Err(format!("unit {unit:?}, spec {:?}", s.unit));
            }
            let x = s.min + 0.25 * (s.max - s.min);
            let got = unsafe { ptr.preview_normalized(x) };
            let want = match s.taper {
                Taper::Linear => 0.25,
                Taper::Skewed(e) => 0.25f32.powf(2f32.powf(e)),
            };
            if !close(got, want) {
                return Err(format!("taper: {x} at {got}, spec {want}"));
            }
            if s.step > 0.0 {
                let snap = |v: f32| unsafe { ptr.preview_plain(ptr.preview_normalized(v)) };
                let (a, b) = (snap(s.min + 0.4 * s.step), snap(s.min + 0.6 * s.step));
                if !close(a, s.min) || !close(b, s.min + s.step) {
                    return Err(format!("step: {a}, {b}; spec step {}", s.step));
                }
            }
        }
        Spec::Int(s) => {
            range(s.min as f32, s.max as f32)?;
            if default != s.default as f32 || steps != Some((s.max - s.min) as usize) {
                return Err(format!("default {default} / steps {steps:?}, spec {s:?}"));
            }
        }
        Spec::Bool(s) => {
            if default != s.default as u8 as f32 || steps != Some(1) {
                return Err(format!("default {default} / steps {steps:?}, spec {s:?}"));
            }
        }
        Spec::Choice(s) => {
            let n = s.names.len();
            if steps != Some(n - 1) || default != s.default as f32 {
                return Err(format!("default {default} / steps {steps:?}, spec {s:?}"));
            }
            for (i, option) in s.names.iter().enumerate() {
                let text =
                    unsafe { ptr.normalized_value_to_string(i as f32 / (n - 1) as f32, false) };
                if text != *option {
                    return Err(format!("option {i} is {text:?}, spec {option:?}"));
                }
            }
        }
    }
    Ok(())
}

/// Compares the `prism <command>` flags with the specs that name one; returns mismatches.
pub fn check_cli(command: &str, specs: &[Spec]) -> Vec<String> {
    let cli = prism_cli::Cli::command();
    let sub = cli.find_subcommand(command).expect("subcommand").clone();
    let mut problems = Vec::new();
    let parse = |flag: &str, value: Option<&str>| {
        let mut argv = vec!["prism", command, "in.wav", "-o", "out"];
        let long = format!("--{flag}");
        argv.push(&long);
        if let Some(v) = value {
            argv.push(v);
        }
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        prism_cli::Cli::command().try_get_matches_from(argv)
    };
    for spec in specs {
        let Some(flag) = spec.flag() else { continue };
        let Some(arg) = sub.get_arguments().find(|a| a.get_long() == Some(flag)) else {
            problems.push(format!("prism {command}: no --{flag} for {}", spec.id()));
            continue;
        };
        let id = arg.get_id().as_str().to_string();
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let value_of = |text: &str| -> Result<Option<String>, String> {
            let m = parse(flag, Some(text)).map_err(|e| e.to_string())?;
            let (_, m) = m.subcommand().expect("subcommand");
            Ok(m.get_raw(&id)
                .and_then(|mut v| v.next())
                .map(|v| v.to_string_lossy().into_owned()))
        };
        let mut fail = |what: String| problems.push(format!("prism {command} --{flag}: {what}"));
        match spec {
            Spec::Float(s) => {
                let d: f32 = defaults
                    .first()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(f32::NAN);
                if d != s.default {
                    fail(format!("default {defaults:?}, spec {}", s.default));
                }
                let margin = (s.max - s.min) * 1e-3;
                for (v, ok) in [
                    (s.min, true),
                    (s.max, true),
                    (s.min - margin, false),
                    (s.max + margin, false),
                ] {
                    if value_of(&v.to_string()).is_ok() != ok {
                        fail(format!(
                            "{v} accepted: {}, spec range {}..{}",
                            !ok, s.min, s.max
                        ));
                    }
                }
            }
            Spec::Int(s) => {
                if defaults != [s.default.to_string()] {
                    fail(format!("default {defaults:?}, spec {}", s.default));
                }
                for (v, ok) in [
                    (s.min, true),
                    (s.max, true),
                    (s.min - 1, false),
                    (s.max + 1, false),
                ] {
                    if value_of(&v.to_string()).is_ok() != ok {
                        fail(format!(
                            "{v} accepted: {}, spec range {}..{}",
                            !ok, s.min, s.max
                        ));
                    }
                }
            }
            Spec::Bool(s) => {
                // The flag selects the non-default state.
                let set = parse(flag, None)
                    .ok()
                    .and_then(|m| m.subcommand().map(|(_, m)| m.get_flag(&id)));
                if set != Some(true) || flag.starts_with("no-") != s.default {
                    fail(format!(
                        "flag does not select the non-default of {}",
                        s.default
                    ));
                }
            }
            Spec::Choice(s) => {
                if defaults != [s.ids[s.default]] {
                    fail(format!("default {defaults:?}, spec {}", s.ids[s.default]));
                }
                for option in s.ids {
                    if value_of(option).is_err() {
                        fail(format!("option {option} rejected"));
                    }
                }
                if value_of("no-such-option").is_ok() {
                    fail("an unknown option accepted".into());
                }
            }
        }
    }
    problems
}

/// Panics with every problem, if there are any.
pub fn assert_none(problems: Vec<String>) {
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
