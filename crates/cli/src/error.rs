//! One line per error, with the tool's name in front: what scripts and
//! people grepping logs expect of a Unix tool.

use std::fmt::Write as _;

/// The error and its causes on one line, `outer: cause: root`. A cause that
/// the line already says (many errors print their source in their own
/// message) is not repeated, and control characters are escaped so a
/// hostile file name cannot forge lines or drive the terminal.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = escape(&cause.to_string());
        let text = text.trim();
        if text.is_empty() || line.contains(text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    line
}

/// Text with every control character (C0, DEL, C1) escaped, newlines
/// included: safe to print on a terminal as part of one line.
pub fn escape(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether the error comes from writing into a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Parses the command line. `--help` and `--version` print as clap makes
/// them and exit 0; any other clap error becomes one line,
/// `TOOL: error: ... (try 'TOOL --help')`, and exit status 2.
pub fn parse_args<P: clap::Parser>(tool: &str) -> P {
    match P::try_parse() {
        Ok(p) => p,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                let code = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    2
                } else {
                    0
                };
                std::process::exit(code);
            }
            eprintln!("{tool}: {}", clap_one_line(&e, tool));
            std::process::exit(2);
        }
    }
}

/// clap's multi-line message as one line: the error, its tip, and where
/// to look for the syntax.
pub fn clap_one_line(e: &clap::Error, tool: &str) -> String {
    let text = e.render().to_string();
    let mut parts: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("Usage:") || line.starts_with("For more information")
        {
            continue;
        }
        parts.push(line.strip_prefix("error: ").unwrap_or(line));
    }
    let body = escape(&parts.join("; "));
    format!("error: {body} (try '{tool} --help')")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_not_repeated() {
        let io = std::io::Error::from_raw_os_error(2);
        let e = anyhow::Error::new(io).context(format!(
            "cannot open x: {}",
            std::io::Error::from_raw_os_error(2)
        ));
        let line = one_line(&e);
        assert_eq!(line.matches("os error 2").count(), 1, "{line}");
        assert!(line.starts_with("cannot open x: "), "{line}");
    }

    #[test]
    fn distinct_causes_are_all_said() {
        let e = anyhow::anyhow!("root cause").context("outer");
        assert_eq!(one_line(&e), "outer: root cause");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("\u{1b}]0;owned\u{7}\n"), "\\x1b]0;owned\\x07\\n");
        assert_eq!(escape("plain"), "plain");
        let e = anyhow::anyhow!("bad name a\nb");
        assert!(!one_line(&e).contains('\n'));
    }

    #[derive(Debug, clap::Parser)]
    #[command(name = "tool")]
    struct Args {
        #[arg(long)]
        count: u32,
    }

    #[test]
    fn clap_errors_are_one_line() {
        use clap::Parser;
        let Err(e) = Args::try_parse_from(["tool", "--count", "x", "--nope"]) else {
            panic!("parsed");
        };
        let line = clap_one_line(&e, "tool");
        assert!(!line.contains('\n'), "{line}");
        assert!(line.starts_with("error: "), "{line}");
        assert!(line.ends_with("(try 'tool --help')"), "{line}");
    }
}
