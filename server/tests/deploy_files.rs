//! The files in `deploy/` that people copy to their servers say what the binary understands:
//! every variable of the example environment file names a flag, and together they parse.

use clap::{CommandFactory, Parser};
use server::Config;

/// `NAME=value` lines, comments and blank lines skipped (systemd's EnvironmentFile syntax,
/// as far as the example uses it).
fn variables(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, value) = line.split_once('=').expect("NAME=value");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

#[test]
fn the_example_environment_file_names_real_flags_that_parse() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/switchboard.env"
    ))
    .expect("deploy/switchboard.env");
    let command = Config::command();
    let mut argv = vec!["switchboard".to_owned()];
    for (name, value) in variables(&text) {
        let flag = command
            .get_arguments()
            .find(|arg| arg.get_env().is_some_and(|env| env == name.as_str()))
            .unwrap_or_else(|| panic!("{name} is no flag's environment variable"));
        let long = flag.get_long().expect("a long flag");
        if flag.get_action().takes_values() {
            argv.extend([format!("--{long}"), value]);
        } else {
            assert_eq!(value, "true", "{name} is a switch");
            argv.push(format!("--{long}"));
        }
    }
    if let Err(error) = Config::try_parse_from(&argv) {
        panic!("{argv:?} does not parse: {error}");
    }
}
