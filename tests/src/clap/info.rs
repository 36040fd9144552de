//! What a plugin says about its ports and parameters.

/// An audio port as reported by `clap.audio-ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioPort {
    /// Port id.
    pub id: u32,
    /// Port name.
    pub name: String,
    /// Channel count.
    pub channel_count: u32,
    /// Whether the port is flagged as the main port.
    pub is_main: bool,
    /// Port type (`mono`, `stereo`, …) if given.
    pub port_type: Option<String>,
    /// Id of the in-place pair, if any.
    pub in_place_pair: Option<u32>,
}

/// A note port as reported by `clap.note-ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotePort {
    /// Port id.
    pub id: u32,
    /// Port name.
    pub name: String,
    /// Supports CLAP note events.
    pub supports_clap: bool,
    /// Supports MIDI 1.0 events.
    pub supports_midi: bool,
}

/// An audio-ports configuration from `clap.audio-ports-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Configuration id (for `select`).
    pub id: u32,
    /// Display name.
    pub name: String,
    /// Channels of the main input (0 if none).
    pub main_input_channels: u32,
    /// Channels of the main output (0 if none).
    pub main_output_channels: u32,
    /// Total number of input ports.
    pub input_port_count: u32,
    /// Total number of output ports.
    pub output_port_count: u32,
}

/// A parameter as reported by `clap.params`.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// CLAP param id (nice-plug: a hash of the `#[id]` string).
    pub id: u32,
    /// Display name.
    pub name: String,
    /// Module path (may be empty).
    pub module: String,
    /// Minimum plain value.
    pub min: f64,
    /// Maximum plain value.
    pub max: f64,
    /// Default plain value.
    pub default: f64,
    /// Stepped (integer, bool, enum).
    pub is_stepped: bool,
    /// Enum.
    pub is_enum: bool,
    /// Hidden.
    pub is_hidden: bool,
    /// Read-only.
    pub is_readonly: bool,
    /// Bypass parameter.
    pub is_bypass: bool,
    /// Automatable.
    pub is_automatable: bool,
}
