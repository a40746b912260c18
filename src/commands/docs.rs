//! `completions` and `man`: shell completions and the man page, generated from the clap
//! definition in `cli.rs` (clap_complete, clap_mangen), so they always match the binary.

use clap::CommandFactory;

use super::{write_stdout, Report};
use crate::cli::Cli;
use crate::error::Error;

/// The top-level entry point for `completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> Report {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "binauthz-attest", &mut script);
    Report::plain(write_stdout(&script))
}

/// The top-level entry point for `man`.
pub fn man() -> Report {
    let mut page = Vec::new();
    let rendered = clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(Error::Output);
    Report::plain(rendered.and_then(|()| write_stdout(&page)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_every_verb() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "binauthz-attest", &mut script);
            let script = String::from_utf8(script).unwrap();
            for verb in ["sign", "verify", "digest", "setup"] {
                assert!(script.contains(verb), "{shell}: {verb}");
            }
        }
    }

    #[test]
    fn the_man_page_documents_the_options_and_their_variables() {
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut page)
            .unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(
            page.starts_with(".ie") || page.contains(".TH binauthz-attest"),
            "{page}"
        );
        assert!(page.contains("BINAUTHZ_TIMEOUT"), "{page}");
    }
}
