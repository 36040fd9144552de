//! Command-line value parsers made from `prism-shared`'s parameter schemas, so a flag
//! accepts exactly the range the plugin's parameter has.

use prism_shared::params::{Choices, FloatSpec, IntSpec, ValueError};

/// Parses a value of `spec`'s range.
pub fn float(
    spec: &'static FloatSpec,
) -> impl Fn(&str) -> Result<f32, ValueError> + Clone + Send + Sync + 'static {
    move |text| spec.parse(text)
}

/// Parses a whole number of `spec`'s range.
pub fn int(
    spec: &'static IntSpec,
) -> impl Fn(&str) -> Result<i32, ValueError> + Clone + Send + Sync + 'static {
    move |text| spec.parse(text)
}

/// Parses one of `T`'s option ids.
pub fn choice<T: Choices>() -> impl Fn(&str) -> Result<T, ValueError> + Clone + Send + Sync + 'static
{
    |text| T::SPEC.parse(text).map(T::from_index)
}

/// The default option's id (the flag's default value).
pub fn default_id<T: Choices>() -> &'static str {
    T::SPEC.ids[T::SPEC.default]
}
