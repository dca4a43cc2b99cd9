//! Shell completions and man pages of a tool, made from its own clap
//! definition, so they cannot drift from its flags: `TOOL completions
//! SHELL` prints a completion script, `TOOL man [--dir DIR]` prints the
//! top-level page or writes every page. Generic over the tool's parser: a
//! tool adds [`Completions`] and [`Man`] as subcommands (with
//! [`completions_help`] and [`man_help`] as their examples) and calls
//! [`run_completions`] / [`run_man`] with its own type.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
pub use clap_complete::Shell;

/// `TOOL completions SHELL`.
#[derive(Debug, Clone, clap::Args)]
pub struct Completions {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `TOOL completions`' examples.
pub fn completions_help(tool: &str) -> String {
    format!(
        "Examples:\n  \
        {tool} completions bash > /etc/bash_completion.d/{tool}\n  \
        {tool} completions zsh > \"${{fpath[1]}}/_{tool}\"\n  \
        {tool} completions fish > ~/.config/fish/completions/{tool}.fish"
    )
}

/// `TOOL man`'s examples.
pub fn man_help(tool: &str) -> String {
    format!(
        "Examples:\n  \
        {tool} man | man -l -                      # read the top-level page now\n  \
        {tool} man --dir /usr/local/share/man/man1  # install every page"
    )
}

/// `TOOL man [--dir DIR]`.
#[derive(Debug, Clone, clap::Args)]
pub struct Man {
    /// Write every page into DIR (TOOL.1, and TOOL-SUBCOMMAND.1 for each
    /// subcommand), creating it, instead of printing the top-level page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// A man page could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ManError {
    #[error("creating {}: {source}", .path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the page to stdout: {0}")]
    Stdout(#[source] std::io::Error),
}

/// Writes `C`'s completion script for `shell` to `out`.
pub fn run_completions<C: CommandFactory>(args: &Completions, out: &mut dyn Write) {
    let mut cmd = C::command();
    let name = cmd.get_name().to_string();
    clap_complete::generate(args.shell, &mut cmd, name, out);
}

/// Prints `C`'s top-level page to `out`, or with `--dir` writes every page
/// there and returns their paths.
pub fn run_man<C: CommandFactory>(
    args: &Man,
    out: &mut dyn Write,
) -> Result<Vec<PathBuf>, ManError> {
    let mut cmd = C::command().disable_help_subcommand(true);
    cmd.build();
    let Some(dir) = &args.dir else {
        clap_mangen::Man::new(cmd)
            .render(out)
            .and_then(|()| out.flush())
            .map_err(ManError::Stdout)?;
        return Ok(Vec::new());
    };
    std::fs::create_dir_all(dir).map_err(|source| ManError::CreateDir {
        path: dir.clone(),
        source,
    })?;
    let mut written = Vec::new();
    write_pages(cmd, dir, &mut written)?;
    Ok(written)
}

/// One page for `cmd` and each of its subcommands, however deep; clap
/// names a subcommand's page `TOOL-SUB.1` once the command is built.
fn write_pages(cmd: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<(), ManError> {
    let man = clap_mangen::Man::new(cmd.clone());
    let path = dir.join(man.get_filename());
    man.generate_to(dir).map_err(|source| ManError::Write {
        path: path.clone(),
        source,
    })?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tool with the two subcommands.
    #[derive(Debug, clap::Parser)]
    #[command(name = "tool", version, about = "A tool.")]
    struct Tool {
        #[command(subcommand)]
        command: Sub,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Sub {
        /// Does the work.
        Work {
            /// How hard.
            #[arg(long)]
            effort: Option<u32>,
        },
        #[command(after_help = completions_help("tool"))]
        Completions(Completions),
        #[command(after_help = man_help("tool"))]
        Man(Man),
    }

    #[test]
    fn every_shell_gets_a_script_naming_the_flags() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let mut out = Vec::new();
            run_completions::<Tool>(&Completions { shell }, &mut out);
            let text = String::from_utf8_lossy(&out);
            assert!(text.contains("effort"), "{shell}: {text}");
            assert!(text.contains("work"), "{shell}");
        }
    }

    #[test]
    fn the_top_page_is_printed_and_every_page_written() {
        let mut out = Vec::new();
        let none = run_man::<Tool>(&Man { dir: None }, &mut out).expect("renders");
        assert!(none.is_empty());
        let page = String::from_utf8_lossy(&out);
        assert!(page.contains(".TH tool"), "{page}");
        let dir = std::env::temp_dir().join(format!("memtrace-cli-man-{}", std::process::id()));
        let mut sink = Vec::new();
        let target = dir.join("man1");
        let files = run_man::<Tool>(
            &Man {
                dir: Some(target.clone()),
            },
            &mut sink,
        )
        .expect("writes");
        let mut names: Vec<String> = files
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["tool-completions.1", "tool-man.1", "tool-work.1", "tool.1"]
        );
        let work = std::fs::read_to_string(target.join("tool-work.1")).expect("written");
        assert!(work.contains("effort"), "{work}");
        assert!(sink.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn examples_name_the_tool() {
        let cmd = Tool::command();
        let help = cmd
            .find_subcommand("completions")
            .and_then(|c| c.get_after_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(help.contains("tool completions bash"), "{help}");
        assert!(!help.contains("TOOL"), "{help}");
    }
}
