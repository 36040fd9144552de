//! Prism Split's parameters, `prism split`'s flags and the remix's sanitiser all come from
//! `prism_shared::split::schema` (see `schema/mod.rs`). The stem strips (gain, mute, solo)
//! and bypass are plugin-only: `prism split` writes the stems pre-fader.

mod schema;

use nice_plug::prelude::Plugin;
use prism_shared::split::remix::Mix;
use prism_shared::split::schema as spec;

#[test]
fn split_parameters_flags_and_sanitiser_come_from_the_schema() {
    let mut want = schema::expected(spec::ALL, &[("", "")]);
    want.extend(schema::expected(
        spec::STEM,
        &[("drums", "Drums "), ("bass", "Bass "), ("other", "Other ")],
    ));
    let mut problems = schema::check_plugin(
        "Prism Split",
        prism_split::PrismSplit::default().params(),
        &want,
    );
    problems.extend(schema::check_cli("split", spec::ALL));
    schema::assert_none(problems);
    assert!(spec::ALL.iter().any(|s| s.flag().is_some()));

    let g = &spec::STEM_GAIN;
    for (x, pick) in [(-1e9f32, 0), (1e9, 1), (f32::NAN, 2)] {
        let mix = Mix {
            gain_db: [x; 3],
            ..Mix::default()
        };
        let want = 10f32.powf([g.min, g.max, g.default][pick] / 20.0);
        assert_eq!(mix.gains(), [want; 3], "{x}");
    }
}
