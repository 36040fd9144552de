//! Declarative parameter schemas: every user-facing setting of every processor is stated
//! here once (id, name, range, step, default, unit, taper, command-line flag).
//!
//! Everything else is derived from these specs: the plugins' nice-plug parameters
//! (`prism-plugin`'s builders), the `prism` command's flags and their value parsers, and the
//! processors' own input sanitising ([`FloatSpec::clamp`], [`IntSpec::clamp`]). Ids key saved
//! sessions and are never renamed. The schemas themselves live beside their processors
//! (`analyzer::schema`, `pitch::schema`, `split::schema`).

use std::fmt;

/// How a float parameter's normalised 0..1 position maps to its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Taper {
    /// Evenly spaced.
    Linear,
    /// nice-plug's `FloatRange::Skewed` with `factor = skew_factor(exponent)`: a negative
    /// exponent gives the low end more of the travel.
    Skewed(f32),
}

/// A continuous (possibly stepped) parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloatSpec {
    /// Stable id (saved sessions, automation).
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Long command-line flag, if the `prism` command has this setting.
    pub flag: Option<&'static str>,
    pub min: f32,
    pub max: f32,
    pub default: f32,
    /// Step of the host-visible value (0 = continuous).
    pub step: f32,
    /// Unit suffix as the host shows it (with its leading space, e.g. `" Hz"`).
    pub unit: &'static str,
    pub taper: Taper,
}

/// An integer parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntSpec {
    pub id: &'static str,
    pub name: &'static str,
    pub flag: Option<&'static str>,
    pub min: i32,
    pub max: i32,
    pub default: i32,
    pub unit: &'static str,
}

/// An on/off parameter. Its command-line flag, if any, selects the non-default state
/// (`--no-auto-tuning` for a parameter that defaults to on).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoolSpec {
    pub id: &'static str,
    pub name: &'static str,
    pub flag: Option<&'static str>,
    pub default: bool,
}

/// A choice among named options ([`Choices`] gives them a Rust type).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChoiceSpec {
    pub id: &'static str,
    pub name: &'static str,
    pub flag: Option<&'static str>,
    /// Stable ids of the options (saved sessions, command-line values).
    pub ids: &'static [&'static str],
    /// Display names of the options.
    pub names: &'static [&'static str],
    /// Index of the default option.
    pub default: usize,
}

/// Any one parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spec {
    Float(&'static FloatSpec),
    Int(&'static IntSpec),
    Bool(&'static BoolSpec),
    Choice(&'static ChoiceSpec),
}

impl Spec {
    /// The parameter's stable id.
    pub fn id(&self) -> &'static str {
        match self {
            Spec::Float(s) => s.id,
            Spec::Int(s) => s.id,
            Spec::Bool(s) => s.id,
            Spec::Choice(s) => s.id,
        }
    }

    /// The parameter's display name.
    pub fn name(&self) -> &'static str {
        match self {
            Spec::Float(s) => s.name,
            Spec::Int(s) => s.name,
            Spec::Bool(s) => s.name,
            Spec::Choice(s) => s.name,
        }
    }

    /// The `prism` command's long flag for it, if any.
    pub fn flag(&self) -> Option<&'static str> {
        match self {
            Spec::Float(s) => s.flag,
            Spec::Int(s) => s.flag,
            Spec::Bool(s) => s.flag,
            Spec::Choice(s) => s.flag,
        }
    }
}

/// A value outside a parameter's range, or text that is not a value.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueError {
    /// What was given.
    pub text: String,
    /// What is accepted, for the message.
    pub expected: String,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not {}", self.text, self.expected)
    }
}

impl std::error::Error for ValueError {}

impl FloatSpec {
    /// The value made valid: non-finite values become the default, others are clamped to
    /// the range. Real-time safe.
    #[inline]
    pub fn clamp(&self, x: f32) -> f32 {
        if x.is_finite() {
            x.clamp(self.min, self.max)
        } else {
            self.default
        }
    }

    /// Parses a command-line value, accepting only values in the range.
    pub fn parse(&self, text: &str) -> Result<f32, ValueError> {
        match text.trim().parse::<f32>() {
            Ok(x) if x.is_finite() && (self.min..=self.max).contains(&x) => Ok(x),
            _ => Err(ValueError {
                text: text.to_string(),
                expected: format!("a number from {} to {}{}", self.min, self.max, self.unit),
            }),
        }
    }
}

impl IntSpec {
    /// The value clamped to the range. Real-time safe.
    #[inline]
    pub fn clamp(&self, x: i32) -> i32 {
        x.clamp(self.min, self.max)
    }

    /// Parses a command-line value, accepting only values in the range.
    pub fn parse(&self, text: &str) -> Result<i32, ValueError> {
        match text.trim().parse::<i32>() {
            Ok(x) if (self.min..=self.max).contains(&x) => Ok(x),
            _ => Err(ValueError {
                text: text.to_string(),
                expected: format!(
                    "a whole number from {} to {}{}",
                    self.min, self.max, self.unit
                ),
            }),
        }
    }
}

impl ChoiceSpec {
    /// Parses an option id.
    pub fn parse(&self, text: &str) -> Result<usize, ValueError> {
        self.ids
            .iter()
            .position(|id| *id == text.trim())
            .ok_or_else(|| ValueError {
                text: text.to_string(),
                expected: format!("one of {}", self.ids.join(", ")),
            })
    }
}

/// A Rust enum whose options a [`ChoiceSpec`] describes.
pub trait Choices: Copy + PartialEq + Send + Sync + 'static {
    /// The parameter (its `ids` and `names` are this type's options, in index order).
    const SPEC: &'static ChoiceSpec;
    /// The option's index into `SPEC.ids`.
    fn index(self) -> usize;
    /// The option at `index` (the first for an index out of range).
    fn from_index(index: usize) -> Self;
    /// The default option.
    fn default_choice() -> Self {
        Self::from_index(Self::SPEC.default)
    }
}

/// The reference pitch of A4, shared by Prism Chroma and Prism Pitch.
pub const REFERENCE_HZ: FloatSpec = FloatSpec {
    id: "ref_hz",
    name: "Reference Pitch",
    flag: Some("reference-hz"),
    min: 415.0,
    max: 466.0,
    default: 440.0,
    step: 0.1,
    unit: " Hz",
    taper: Taper::Linear,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamping_and_parsing_follow_the_range() {
        assert_eq!(REFERENCE_HZ.clamp(f32::NAN), 440.0);
        assert_eq!(REFERENCE_HZ.clamp(400.0), 415.0);
        assert_eq!(REFERENCE_HZ.clamp(500.0), 466.0);
        assert_eq!(REFERENCE_HZ.parse("442"), Ok(442.0));
        assert!(REFERENCE_HZ.parse("500").is_err());
        assert!(REFERENCE_HZ.parse("nan").is_err());
        let message = REFERENCE_HZ.parse("x").unwrap_err().to_string();
        assert!(
            message.contains("415") && message.contains("466"),
            "{message}"
        );
    }
}
