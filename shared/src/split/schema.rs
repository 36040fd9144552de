//! Prism Split's parameters, stated once (see [`crate::params`]). The three stem strips
//! share one set of specs; the plugin nests them under the stem's name (`drums_gain`, …).

use super::SplitMode;
use crate::params::{BoolSpec, ChoiceSpec, Choices, FloatSpec, Spec, Taper};

/// Which separator produces the masks ([`SplitMode`]).
pub const MODE: ChoiceSpec = ChoiceSpec {
    id: "mode",
    name: "Separator",
    flag: Some("mode"),
    ids: &["neural", "hpss"],
    names: &["Neural", "Classical (HPSS)"],
    default: 0,
};
/// A stem's level in the remix (plugin only: `prism split` writes the stems pre-fader).
pub const STEM_GAIN: FloatSpec = FloatSpec {
    id: "gain",
    name: "Gain",
    flag: None,
    min: -60.0,
    max: 12.0,
    default: 0.0,
    step: 0.1,
    unit: " dB",
    taper: Taper::Linear,
};
/// A stem muted in the remix.
pub const STEM_MUTE: BoolSpec = BoolSpec {
    id: "mute",
    name: "Mute",
    flag: None,
    default: false,
};
/// A stem soloed in the remix.
pub const STEM_SOLO: BoolSpec = BoolSpec {
    id: "solo",
    name: "Solo",
    flag: None,
    default: false,
};
/// Crossfade to the latency-compensated dry input.
pub const BYPASS: BoolSpec = BoolSpec {
    id: "bypass",
    name: "Bypass",
    flag: None,
    default: false,
};

/// The parameters of one stem strip (ids and names are prefixed with the stem's).
pub const STEM: &[Spec] = &[
    Spec::Float(&STEM_GAIN),
    Spec::Bool(&STEM_MUTE),
    Spec::Bool(&STEM_SOLO),
];

/// The parameters outside the strips.
pub const ALL: &[Spec] = &[Spec::Choice(&MODE), Spec::Bool(&BYPASS)];

impl Choices for SplitMode {
    const SPEC: &'static ChoiceSpec = &MODE;
    fn index(self) -> usize {
        self as usize
    }
    fn from_index(index: usize) -> Self {
        match index {
            1 => SplitMode::Hpss,
            _ => SplitMode::Neural,
        }
    }
}
