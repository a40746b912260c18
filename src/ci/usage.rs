//! A command line clap refused, said the way the CI's user wrote it: under GitHub Actions the
//! action's input names (`input attestor`), elsewhere the flag and its variable; a required key
//! lists every way to give one, and a mistyped action input is named with the input it
//! probably meant. clap's usage line is left out: under a CI it lists flags nobody typed.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};

use super::{Ci, CiName};
use crate::cli::VerbInput;
use crate::error::Error;

/// Settings that stand in for one another: when the first is required, any of the others
/// does too (the clap definition's `required_unless_present_any`). Only the ones the verb has
/// are named.
const ALTERNATIVES: &[(&str, &[&str])] = &[
    (
        "--kms-key-version",
        &["--pkix-private-key", "--pgp-private-key"],
    ),
    ("--kms-key", &["--pkix-public-key", "--pgp-public-key"]),
    ("--attestor", &["--cosign-key"]),
    ("--policy", &["--project"]),
];

/// The error to report for a command line clap refused, or `None` for `--help` and
/// `--version`, which clap prints itself.
pub fn usage_error(
    ci: &dyn Ci,
    error: &clap::Error,
    args: &[OsString],
    vars: &[(String, String)],
) -> Option<Error> {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return None;
    }
    let verb = crate::cli::verb_inputs(args);
    let github = ci.name() == CiName::Github;
    let name = |flag: &str| setting(flag, &verb, github);
    let mut message = match error.kind() {
        ErrorKind::MissingRequiredArgument => {
            let missing: Vec<String> = strings(error, ContextKind::InvalidArg)
                .iter()
                .map(|s| {
                    let flag = flag_of(s);
                    let others: Vec<String> = ALTERNATIVES
                        .iter()
                        .find(|(f, _)| *f == flag)
                        .map(|(_, others)| {
                            others
                                .iter()
                                .filter(|o| verb.iter().any(|v| v.flag == **o))
                                .map(|o| name(o))
                                .collect()
                        })
                        .unwrap_or_default();
                    match others.is_empty() {
                        true => name(&flag),
                        false => format!("{} or {}", name(&flag), others.join(" or ")),
                    }
                })
                .collect();
            format!("required, and not given: {}", missing.join("; "))
        }
        ErrorKind::ArgumentConflict => {
            let first = strings(error, ContextKind::InvalidArg);
            let other = strings(error, ContextKind::PriorArg);
            let names: Vec<String> = first
                .iter()
                .chain(&other)
                .map(|s| name(&flag_of(s)))
                .collect();
            format!(
                "{} cannot be used with {}: give one of them",
                names.first().cloned().unwrap_or_default(),
                names[1.min(names.len())..].join(", ")
            )
        }
        _ => {
            // clap's own sentence (the value parsers' messages name the value and the fix),
            // with each flag it names said the CI's way.
            let rendered = error.render().to_string();
            let mut line = rendered
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_string();
            if let Some(arg) = strings(error, ContextKind::InvalidArg).first() {
                line = line.replace(&format!("'{arg}'"), &name(&flag_of(arg)));
            }
            line
        }
    };
    if github {
        let unknown = unknown_inputs(&verb, vars);
        if !unknown.is_empty() {
            message += &format!(
                ". The step also gives input(s) this action does not have: {}",
                unknown.join(", ")
            );
        }
        message += " (set the action's inputs in the step's `with:`)";
    } else {
        message += " (see --help)";
    }
    Some(Error::Usage(message))
}

/// How the user gave `flag`: the action input under GitHub, else the flag and its variable.
fn setting(flag: &str, verb: &[VerbInput], github: bool) -> String {
    match verb.iter().find(|v| v.flag == flag) {
        Some(v) if github => format!("input `{}`", v.input),
        Some(v) if v.flag.starts_with("--") => format!("{} (or {})", v.flag, v.env),
        Some(v) => format!("{} arguments (or {})", v.flag, v.env),
        None => flag.to_string(),
    }
}

/// `--attestor` from clap's `--attestor <ATTESTOR>`, `IMAGE` from `[IMAGE]...`.
fn flag_of(text: &str) -> String {
    let word = text
        .split(|c: char| c.is_whitespace() || c == '|')
        .map(|w| w.trim_matches(|c| matches!(c, '<' | '>' | '[' | ']' | '.')))
        .find(|w| !w.is_empty())
        .unwrap_or_default();
    word.to_string()
}

fn strings(error: &clap::Error, kind: ContextKind) -> Vec<String> {
    match error.get(kind) {
        Some(ContextValue::String(s)) => vec![s.clone()],
        Some(ContextValue::Strings(v)) => v.clone(),
        _ => Vec::new(),
    }
}

/// `INPUT_*` variables that name no input of this verb (the runner passes every `with:` key
/// on, after only a warning), each with the input it most likely meant.
fn unknown_inputs(verb: &[VerbInput], vars: &[(String, String)]) -> Vec<String> {
    let github = super::github::GitHub::new(verb.to_vec());
    let known: Vec<&str> = github
        .input_variables()
        .into_iter()
        .map(|(input, _)| input)
        .collect();
    vars.iter()
        .filter_map(|(name, _)| name.strip_prefix("INPUT_"))
        .map(str::to_ascii_lowercase)
        // `args` and `entrypoint`: what a `uses: docker://IMAGE` step's `with:` takes.
        .filter(|given| {
            !known.contains(&given.as_str()) && given != "args" && given != "entrypoint"
        })
        .map(|given| {
            let closest = known
                .iter()
                .map(|k| (strsim::levenshtein(k, &given), *k))
                .min()
                .filter(|(distance, _)| *distance <= 2);
            match closest {
                Some((_, meant)) => format!("`{given}` (did you mean `{meant}`?)"),
                None => format!("`{given}`"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn refused(ci: &dyn Ci, args: &[&str], vars: &[(&str, &str)]) -> String {
        let args: Vec<OsString> = args.iter().map(Into::into).collect();
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let e = crate::cli::Cli::try_parse_from(&args).unwrap_err();
        let error = usage_error(ci, &e, &args, &vars).expect("an error");
        assert_eq!(error.exit_code(), 2);
        error.to_string()
    }

    #[test]
    fn a_mistyped_github_input_is_named_with_the_one_it_meant_and_no_usage_line() {
        let args: Vec<OsString> = ["b", "sign", "--ci", "github"]
            .iter()
            .map(Into::into)
            .collect();
        let github = super::super::github::GitHub::new(crate::cli::verb_inputs(&args));
        let message = refused(
            &github,
            &["b", "sign", "--ci", "github", "--kms-key-version", "k"],
            &[
                ("INPUT_ATESTOR", "projects/p/attestors/a"),
                ("INPUT_IMAGES", "x"),
            ],
        );
        assert!(message.contains("input `attestor`"), "{message}");
        assert!(
            message.contains("`atestor` (did you mean `attestor`?)"),
            "{message}"
        );
        assert!(!message.contains("Usage"), "{message}");
        assert!(!message.contains("--kms-key-version"), "{message}");
    }

    #[test]
    fn a_missing_signing_key_lists_the_key_file_alternatives() {
        let message = refused(
            &super::super::local::Local,
            &["b", "sign", "r.io/a/b:1", "--attestor", "a"],
            &[],
        );
        for needed in [
            "--kms-key-version (or BINAUTHZ_KMS_KEY_VERSION)",
            "--pkix-private-key (or BINAUTHZ_PKIX_PRIVATE_KEY)",
            "--pgp-private-key (or BINAUTHZ_PGP_PRIVATE_KEY)",
        ] {
            assert!(message.contains(needed), "{message}");
        }
    }

    #[test]
    fn a_bad_value_names_the_setting_and_keeps_the_parsers_fix() {
        let message = refused(
            &super::super::local::Local,
            &[
                "b",
                "sign",
                "--timeout",
                "5x",
                "--attestor",
                "a",
                "--kms-key-version",
                "k",
            ],
            &[],
        );
        assert!(
            message.contains("--timeout (or BINAUTHZ_TIMEOUT)"),
            "{message}"
        );
        assert!(message.contains("write e.g. 90s"), "{message}");
    }

    #[test]
    fn two_signing_keys_say_they_cannot_be_used_together() {
        let message = refused(
            &super::super::local::Local,
            &[
                "b",
                "sign",
                "--attestor",
                "a",
                "--kms-key-version",
                "k",
                "--pkix-private-key",
                "f",
            ],
            &[],
        );
        assert!(message.contains("cannot be used with"), "{message}");
    }
}
