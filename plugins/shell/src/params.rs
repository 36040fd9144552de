//! nice-plug parameters built from `prism-shared`'s schemas ([`prism_shared::params`]), so a
//! range, default, step or unit is written once, in `shared/`.

use nice_plug::prelude::*;
use prism_shared::params::{BoolSpec, Choices, FloatSpec, IntSpec, Taper};

/// A float parameter as `spec` describes it. `prefix` goes before the name (a stem strip's
/// "Drums "), "" for none.
pub fn float(spec: &'static FloatSpec, prefix: &str) -> FloatParam {
    let range = match spec.taper {
        Taper::Linear => FloatRange::Linear {
            min: spec.min,
            max: spec.max,
        },
        Taper::Skewed(exponent) => FloatRange::Skewed {
            min: spec.min,
            max: spec.max,
            factor: FloatRange::skew_factor(exponent),
        },
    };
    let mut param =
        FloatParam::new(format!("{prefix}{}", spec.name), spec.default, range).with_unit(spec.unit);
    if spec.step > 0.0 {
        param = param.with_step_size(spec.step);
    }
    param
}

/// An integer parameter as `spec` describes it.
pub fn int(spec: &'static IntSpec) -> IntParam {
    IntParam::new(
        spec.name,
        spec.default,
        IntRange::Linear {
            min: spec.min,
            max: spec.max,
        },
    )
    .with_unit(spec.unit)
}

/// An on/off parameter as `spec` describes it.
pub fn bool(spec: &'static BoolSpec, prefix: &str) -> BoolParam {
    BoolParam::new(format!("{prefix}{}", spec.name), spec.default)
}

/// A choice parameter over the options of `T` (its [`Choices::SPEC`]).
pub fn choice<T: Choices>() -> EnumParam<Choice<T>> {
    EnumParam::new(T::SPEC.name, Choice(T::default_choice()))
}

/// A `prism-shared` choice type as a nice-plug [`Enum`]: the option names and ids come from
/// its schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice<T>(pub T);

impl<T: Choices> Enum for Choice<T> {
    fn variants() -> &'static [&'static str] {
        T::SPEC.names
    }

    fn ids() -> Option<&'static [&'static str]> {
        Some(T::SPEC.ids)
    }

    fn to_index(self) -> usize {
        self.0.index()
    }

    fn from_index(index: usize) -> Self {
        Choice(T::from_index(index))
    }
}
